using KafkaPipeline.Shared;
using Npgsql;
using NpgsqlTypes;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// Which slot's initial snapshot is completely in Kafka, and at which consistent point. A slot without this record was
/// created by a source that died during its snapshot: its snapshot is gone, so the slot is replaced.
/// </summary>
public sealed class SnapshotState(NpgsqlDataSource db, SourceOptions options)
{
    private readonly string _table = SqlIdentifier.QuotePostgres(options.CdcStateTable);

    public Task EnsureAsync(CancellationToken ct) =>
        SourceTable.EnsureAsync(db, options.CdcStateTable,
            "slot text PRIMARY KEY, consistent_point pg_lsn NOT NULL, snapshot_rows bigint NOT NULL, completed_at timestamptz NOT NULL DEFAULT now()",
            (table, reason) => $"The source may not create its state table {table} (Source:CdcStateTable; PostgreSQL: {reason}): " +
                               "GRANT CREATE ON SCHEMA to its role, or create the table as described in the README.", ct);

    /// <summary>The consistent point of the slot's completed snapshot, or null when it never completed.</summary>
    public async Task<ulong?> LoadAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"SELECT consistent_point FROM {_table} WHERE slot = @slot");
        cmd.Parameters.AddWithValue("slot", options.SlotName);
        var value = await cmd.ExecuteScalarAsync(ct);
        return value is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : null;
    }

    public async Task SaveAsync(ulong consistentPoint, long rows, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"""
            INSERT INTO {_table} (slot, consistent_point, snapshot_rows) VALUES (@slot, @lsn, @rows)
            ON CONFLICT (slot) DO UPDATE SET consistent_point = EXCLUDED.consistent_point,
                snapshot_rows = EXCLUDED.snapshot_rows, completed_at = now()
            """);
        cmd.Parameters.AddWithValue("slot", options.SlotName);
        cmd.Parameters.AddWithValue("lsn", NpgsqlDbType.PgLsn, new NpgsqlLogSequenceNumber(consistentPoint));
        cmd.Parameters.AddWithValue("rows", rows);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task ForgetAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"DELETE FROM {_table} WHERE slot = @slot");
        cmd.Parameters.AddWithValue("slot", options.SlotName);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
