using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using Npgsql;
using NpgsqlTypes;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// A slot's completed initial snapshot: its consistent point (which, with the slot name, identifies the slot: a slot
/// recreated under the same name has another), its epoch, the topics' partition counts its events were keyed for, and the
/// last position the source confirmed to PostgreSQL (recorded before PostgreSQL is told).
/// </summary>
public sealed record CompletedSnapshot(ulong ConsistentPoint, SourceEpoch Epoch, IReadOnlyDictionary<string, int>? Partitions, ulong? Confirmed);

/// <summary>
/// Which slot's initial snapshot is completely in Kafka, and what the source knows of that slot since. A slot without
/// this record was created by a source that died during its snapshot: its snapshot is gone, so the slot is replaced.
/// Writes run on the leader's connection (<see cref="SourceLeadership.RunAsync"/>), so only the lock holder can make them.
/// </summary>
public sealed class SnapshotState(NpgsqlDataSource db, SourceOptions options)
{
    private readonly string _table = SqlIdentifier.QuotePostgres(options.CdcStateTable);

    public async Task EnsureAsync(CancellationToken ct)
    {
        await SourceTable.EnsureAsync(db, options.CdcStateTable,
            "slot text PRIMARY KEY, consistent_point pg_lsn NOT NULL, snapshot_rows bigint NOT NULL, completed_at timestamptz NOT NULL DEFAULT now()",
            (table, reason) => $"The source may not create its state table {table} (Source:CdcStateTable; PostgreSQL: {reason}): " +
                               "GRANT CREATE ON SCHEMA to its role, or create the table as docs/source.md describes.", ct);
        // Columns an earlier version's table does not have yet.
        await using var add = db.CreateCommand(
            $"ALTER TABLE {_table} ADD COLUMN IF NOT EXISTS epoch text, ADD COLUMN IF NOT EXISTS topic_partitions text, ADD COLUMN IF NOT EXISTS confirmed_lsn pg_lsn");
        await add.ExecuteNonQueryAsync(ct);
        await SourceLeadership.EnsureLeaseTableAsync(db, options, ct);
        await new TableStates(db, options).EnsureAsync(ct);
    }

    /// <summary>The slot's completed snapshot, or null when it never completed.</summary>
    public async Task<CompletedSnapshot?> LoadAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"SELECT consistent_point, epoch, topic_partitions, confirmed_lsn FROM {_table} WHERE slot = @slot");
        cmd.Parameters.AddWithValue("slot", options.SlotName);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        var point = (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(0);
        // A snapshot completed by an earlier version (no epoch recorded): its history is the first.
        var epoch = !r.IsDBNull(1) && SourceEpoch.TryParse(r.GetString(1), out var e) ? e : new SourceEpoch(1, 0, 0, point);
        return new CompletedSnapshot(point, epoch, r.IsDBNull(2) ? null : ParsePartitions(r.GetString(2)),
            r.IsDBNull(3) ? null : (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(3));
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

    /// <summary>"P_USERS=4,P_ORDERS=4".</summary>
    private static string FormatPartitions(IReadOnlyDictionary<string, int> partitions) =>
        string.Join(",", partitions.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));

    private static Dictionary<string, int> ParsePartitions(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('='))
            .Where(p => p.Length == 2 && int.TryParse(p[1], out _)).ToDictionary(p => p[0], p => int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));

    public Task SaveAsync(SourceLeadership leader, ulong consistentPoint, long rows, SourceEpoch epoch, IReadOnlyDictionary<string, int> partitions, CancellationToken ct) =>
        leader.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand($"""
                INSERT INTO {_table} (slot, consistent_point, snapshot_rows, epoch, topic_partitions, confirmed_lsn) VALUES (@slot, @lsn, @rows, @epoch, @partitions, @lsn)
                ON CONFLICT (slot) DO UPDATE SET consistent_point = EXCLUDED.consistent_point, snapshot_rows = EXCLUDED.snapshot_rows,
                    completed_at = now(), epoch = EXCLUDED.epoch, topic_partitions = EXCLUDED.topic_partitions, confirmed_lsn = EXCLUDED.confirmed_lsn
                """, conn);
            cmd.Parameters.AddWithValue("slot", options.SlotName);
            cmd.Parameters.AddWithValue("lsn", NpgsqlDbType.PgLsn, new NpgsqlLogSequenceNumber(consistentPoint));
            cmd.Parameters.AddWithValue("rows", rows);
            cmd.Parameters.AddWithValue("epoch", epoch.ToString());
            cmd.Parameters.AddWithValue("partitions", FormatPartitions(partitions));
            await cmd.ExecuteNonQueryAsync(ct);
        }, ct);

    /// <summary>
    /// Records the position about to be confirmed to PostgreSQL, for the slot of <paramref name="consistentPoint"/> only;
    /// false when that slot's record is gone (another source replaced the slot: this one must stop).
    /// </summary>
    public async Task<bool> SaveConfirmedAsync(SourceLeadership leader, ulong consistentPoint, ulong confirmed, IReadOnlyDictionary<string, int> partitions,
        CancellationToken ct)
    {
        var saved = false;
        await leader.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                $"UPDATE {_table} SET confirmed_lsn = greatest(confirmed_lsn, @confirmed), topic_partitions = @partitions WHERE slot = @slot AND consistent_point = @point", conn);
            cmd.Parameters.AddWithValue("slot", options.SlotName);
            cmd.Parameters.AddWithValue("point", NpgsqlDbType.PgLsn, new NpgsqlLogSequenceNumber(consistentPoint));
            cmd.Parameters.AddWithValue("confirmed", NpgsqlDbType.PgLsn, new NpgsqlLogSequenceNumber(confirmed));
            cmd.Parameters.AddWithValue("partitions", FormatPartitions(partitions));
            saved = await cmd.ExecuteNonQueryAsync(ct) == 1;
        }, ct);
        return saved;
    }

    public Task ForgetAsync(SourceLeadership leader, CancellationToken ct) => leader.RunAsync(async conn =>
    {
        await using var cmd = new NpgsqlCommand($"DELETE FROM {_table} WHERE slot = @slot", conn);
        cmd.Parameters.AddWithValue("slot", options.SlotName);
        await cmd.ExecuteNonQueryAsync(ct);
    }, ct);
}
