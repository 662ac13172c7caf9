using KafkaPipeline.Shared;
using Npgsql;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>What the source did for one captured table under the current slot.</summary>
/// <param name="AddedBySource">The source put it in the publication (so it takes it out when the table is no longer listed).</param>
/// <param name="SnapshotDone">Its rows from before its capture began are in Kafka (initial or incremental snapshot).</param>
/// <param name="LastKey">How far its incremental snapshot got: the key columns' text of the last row confirmed in Kafka.</param>
public sealed record TableState(string Table, bool AddedBySource, bool SnapshotDone, string[]? LastKey);

/// <summary>
/// Per slot and table: {CdcStateTable}_tables. Writes run on the leader's connection, so only the lock holder makes them.
/// </summary>
public sealed class TableStates(NpgsqlDataSource db, SourceOptions options)
{
    private readonly string _table = SqlIdentifier.QuotePostgres(options.CdcStateTable + "_tables");

    public Task EnsureAsync(CancellationToken ct) =>
        SourceTable.EnsureAsync(db, options.CdcStateTable + "_tables",
            "slot text NOT NULL, table_name text NOT NULL, added_by_source boolean NOT NULL, snapshot_done boolean NOT NULL, " +
            "last_key text[], PRIMARY KEY (slot, table_name)",
            (table, reason) => $"The source may not create its state table {table} (PostgreSQL: {reason}): GRANT CREATE ON SCHEMA to its role.", ct);

    public async Task<Dictionary<string, TableState>> LoadAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"SELECT table_name, added_by_source, snapshot_done, last_key FROM {_table} WHERE slot = @slot");
        cmd.Parameters.AddWithValue("slot", options.SlotName);
        var states = new Dictionary<string, TableState>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            states[r.GetString(0)] = new TableState(r.GetString(0), r.GetBoolean(1), r.GetBoolean(2), r.IsDBNull(3) ? null : r.GetFieldValue<string[]>(3));
        return states;
    }

    public Task SaveAsync(SourceLeadership leader, TableState state, CancellationToken ct) => leader.RunAsync(async conn =>
    {
        await using var cmd = new NpgsqlCommand($"""
            INSERT INTO {_table} (slot, table_name, added_by_source, snapshot_done, last_key) VALUES (@slot, @t, @added, @done, @key)
            ON CONFLICT (slot, table_name) DO UPDATE SET added_by_source = EXCLUDED.added_by_source, snapshot_done = EXCLUDED.snapshot_done,
                last_key = EXCLUDED.last_key
            """, conn);
        cmd.Parameters.AddWithValue("slot", options.SlotName);
        cmd.Parameters.AddWithValue("t", state.Table);
        cmd.Parameters.AddWithValue("added", state.AddedBySource);
        cmd.Parameters.AddWithValue("done", state.SnapshotDone);
        cmd.Parameters.Add(new NpgsqlParameter("key", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)state.LastKey ?? DBNull.Value });
        await cmd.ExecuteNonQueryAsync(ct);
    }, ct);

    public Task DeleteAsync(SourceLeadership leader, string table, CancellationToken ct) => leader.RunAsync(async conn =>
    {
        await using var cmd = new NpgsqlCommand($"DELETE FROM {_table} WHERE slot = @slot AND table_name = @t", conn);
        cmd.Parameters.AddWithValue("slot", options.SlotName);
        cmd.Parameters.AddWithValue("t", table);
        await cmd.ExecuteNonQueryAsync(ct);
    }, ct);

    /// <summary>A new slot starts with no table state (its snapshot decides each table's).</summary>
    public Task ForgetAllAsync(SourceLeadership leader, CancellationToken ct) => leader.RunAsync(async conn =>
    {
        await using var cmd = new NpgsqlCommand($"DELETE FROM {_table} WHERE slot = @slot AND NOT added_by_source", conn);
        cmd.Parameters.AddWithValue("slot", options.SlotName);
        await cmd.ExecuteNonQueryAsync(ct);
        await using var reset = new NpgsqlCommand($"UPDATE {_table} SET snapshot_done = false, last_key = NULL WHERE slot = @slot", conn);
        reset.Parameters.AddWithValue("slot", options.SlotName);
        await reset.ExecuteNonQueryAsync(ct);
    }, ct);
}
