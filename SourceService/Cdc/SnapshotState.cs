using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using Npgsql;
using NpgsqlTypes;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>A slot's completed initial snapshot: its consistent point and the epoch of the slot's history.</summary>
public sealed record CompletedSnapshot(ulong ConsistentPoint, SourceEpoch Epoch);

/// <summary>
/// Which slot's initial snapshot is completely in Kafka, at which consistent point, and in which epoch. A slot without
/// this record was created by a source that died during its snapshot: its snapshot is gone, so the slot is replaced.
/// </summary>
public sealed class SnapshotState(NpgsqlDataSource db, SourceOptions options)
{
    private readonly string _table = SqlIdentifier.QuotePostgres(options.CdcStateTable);

    public async Task EnsureAsync(CancellationToken ct)
    {
        await SourceTable.EnsureAsync(db, options.CdcStateTable,
            "slot text PRIMARY KEY, consistent_point pg_lsn NOT NULL, snapshot_rows bigint NOT NULL, completed_at timestamptz NOT NULL DEFAULT now(), epoch text",
            (table, reason) => $"The source may not create its state table {table} (Source:CdcStateTable; PostgreSQL: {reason}): " +
                               "GRANT CREATE ON SCHEMA to its role, or create the table as described in the README.", ct);
        // A table made by an earlier version has no epoch column yet.
        await using var add = db.CreateCommand($"ALTER TABLE {_table} ADD COLUMN IF NOT EXISTS epoch text");
        await add.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The slot's completed snapshot, or null when it never completed.</summary>
    public async Task<CompletedSnapshot?> LoadAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"SELECT consistent_point, epoch FROM {_table} WHERE slot = @slot");
        cmd.Parameters.AddWithValue("slot", options.SlotName);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        var point = (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(0);
        // A snapshot completed by an earlier version (no epoch recorded): its history is the first.
        var epoch = !r.IsDBNull(1) && SourceEpoch.TryParse(r.GetString(1), out var e) ? e : new SourceEpoch(1, 0, 0, point);
        return new CompletedSnapshot(point, epoch);
    }

    /// <summary>The highest epoch ordinal any slot's snapshot recorded here (0: none).</summary>
    public async Task<long> HighestOrdinalAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"SELECT epoch FROM {_table} WHERE epoch IS NOT NULL");
        await using var r = await cmd.ExecuteReaderAsync(ct);
        long highest = 0;
        while (await r.ReadAsync(ct))
        {
            if (SourceEpoch.TryParse(r.GetString(0), out var e)) highest = Math.Max(highest, e.Ordinal);
        }
        return highest;
    }

    public async Task SaveAsync(ulong consistentPoint, long rows, SourceEpoch epoch, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"""
            INSERT INTO {_table} (slot, consistent_point, snapshot_rows, epoch) VALUES (@slot, @lsn, @rows, @epoch)
            ON CONFLICT (slot) DO UPDATE SET consistent_point = EXCLUDED.consistent_point,
                snapshot_rows = EXCLUDED.snapshot_rows, completed_at = now(), epoch = EXCLUDED.epoch
            """);
        cmd.Parameters.AddWithValue("slot", options.SlotName);
        cmd.Parameters.AddWithValue("lsn", NpgsqlDbType.PgLsn, new NpgsqlLogSequenceNumber(consistentPoint));
        cmd.Parameters.AddWithValue("rows", rows);
        cmd.Parameters.AddWithValue("epoch", epoch.ToString());
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task ForgetAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"DELETE FROM {_table} WHERE slot = @slot");
        cmd.Parameters.AddWithValue("slot", options.SlotName);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
