using Npgsql;
using NpgsqlTypes;

namespace KafkaPipeline.Shared;

/// <summary>
/// A logical replication slot as PostgreSQL reports it. <see cref="RetainedWalBytes"/> is the WAL the server keeps for
/// the slot (from its restart LSN to the current end of WAL): it grows without bound while nobody consumes the slot,
/// until <c>max_slot_wal_keep_size</c> invalidates it (<see cref="WalStatus"/> "lost").
/// </summary>
public sealed record ReplicationSlotStatus(
    string Name,
    bool Active,
    int? ActivePid,
    NpgsqlLogSequenceNumber? RestartLsn,
    NpgsqlLogSequenceNumber? ConfirmedFlushLsn,
    long? RetainedWalBytes,
    long? UnconfirmedWalBytes,
    string? WalStatus)
{
    /// <summary>
    /// The query (any role may read pg_replication_slots); documented for operators in docs/operations.md.
    /// Measured to the WAL insert position: with synchronous_commit=off the write position lags what is already logged.
    /// </summary>
    public const string Sql = """
        SELECT active, active_pid, restart_lsn, confirmed_flush_lsn,
               pg_wal_lsn_diff(pg_current_wal_insert_lsn(), restart_lsn)::bigint AS retained_wal_bytes,
               pg_wal_lsn_diff(pg_current_wal_insert_lsn(), confirmed_flush_lsn)::bigint AS unconfirmed_wal_bytes,
               wal_status
        FROM pg_replication_slots WHERE slot_name = @slot
        """;

    /// <summary>The slot's status, or null when there is no such slot.</summary>
    public static async Task<ReplicationSlotStatus?> ReadAsync(NpgsqlDataSource db, string slot, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(Sql);
        cmd.Parameters.AddWithValue("slot", slot);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        return new ReplicationSlotStatus(slot, r.GetBoolean(0),
            r.IsDBNull(1) ? null : r.GetInt32(1),
            r.IsDBNull(2) ? null : r.GetFieldValue<NpgsqlLogSequenceNumber>(2),
            r.IsDBNull(3) ? null : r.GetFieldValue<NpgsqlLogSequenceNumber>(3),
            r.IsDBNull(4) ? null : r.GetInt64(4),
            r.IsDBNull(5) ? null : r.GetInt64(5),
            r.IsDBNull(6) ? null : r.GetString(6));
    }
}
