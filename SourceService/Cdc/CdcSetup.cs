using KafkaPipeline.Shared;
using Npgsql;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>An existing replication slot: its output plugin, database and whether PostgreSQL invalidated it.</summary>
public sealed record SlotInfo(string Plugin, string? Database, bool Active, string? WalStatus, ulong? ConfirmedFlush);

/// <summary>
/// What logical replication needs from PostgreSQL, checked or created by the active source: wal_level, the REPLICATION
/// attribute, the publication of the table, the slot. A problem retrying cannot fix throws
/// <see cref="NotRetriableException"/> with the fix in its message.
/// </summary>
public sealed class CdcSetup(NpgsqlDataSource db, SourceOptions options)
{
    private readonly string _publication = SqlIdentifier.QuotePostgres(options.PublicationName);

    public async Task CheckServerAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            SELECT current_setting('wal_level'), r.rolreplication OR r.rolsuper, current_user
            FROM pg_roles r WHERE r.rolname = current_user
            """);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        var walLevel = reader.GetString(0);
        var replication = reader.GetBoolean(1);
        var role = reader.GetString(2);
        if (WalLevelProblem(walLevel) is { } problem) throw new NotRetriableException(problem);
        if (!replication) throw new NotRetriableException(NoReplicationProblem(role));
    }

    public static string? WalLevelProblem(string walLevel) => walLevel == "logical" ? null :
        $"PostgreSQL runs with wal_level={walLevel}, but change data capture (Source:Mode=Cdc) needs wal_level=logical. " +
        "Fix: ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL (or start it with -c wal_level=logical). " +
        "Until then Source:Mode=TimestampIncrementing polls instead (docs/source.md: what the polling modes miss).";

    public static string NoReplicationProblem(string role) =>
        $"Role \"{role}\" lacks the REPLICATION attribute that logical replication (Source:Mode=Cdc) needs. " +
        $"Fix, as a superuser: ALTER ROLE \"{role}\" REPLICATION; (pg_hba.conf must also allow its replication connections). " +
        "Until then Source:Mode=TimestampIncrementing polls instead (docs/source.md: what the polling modes miss).";

    /// <summary>
    /// Makes the publication (inserts, updates, deletes; no truncate) hold every capturable listed table, creating it when
    /// missing, and none that the source added but that is no longer listed. A table someone else added is left in it:
    /// its changes are never published (the stream skips relations that are not listed). Returns the tables put in
    /// (their existing rows need a snapshot) and the ones taken out.
    /// </summary>
    public async Task<(List<CapturedTableInfo> Added, List<string> Removed)> SyncPublicationAsync(
        SourceLeadership leader, CaptureSet capture, IReadOnlyDictionary<string, TableState> states, CancellationToken ct)
    {
        var added = new List<CapturedTableInfo>();
        var removed = new List<string>();
        var members = await ReadPublicationAsync(ct);
        if (members is null)
        {
            var tables = capture.Capturable.ToList();
            await RunAsync(leader, tables.Count == 0
                ? $"CREATE PUBLICATION {_publication} WITH (publish = 'insert, update, delete')"
                : $"CREATE PUBLICATION {_publication} FOR TABLE {string.Join(", ", tables.Select(Quote))} WITH (publish = 'insert, update, delete')",
                tables, ct, createdIfDuplicate: true);
            members = await ReadPublicationAsync(ct) ?? throw new InvalidOperationException($"publication {_publication} vanished after creation");
            added.AddRange(tables.Where(t => members.Tables.Contains(t.QualifiedName)));
        }
        if (members.Problem is { } problem)
            throw new NotRetriableException(
                $"Publication {_publication} (Source:Publication) {problem}; the source needs a publication of inserts, updates and deletes " +
                $"of the tables it captures. Fix: set Source:Publication to a new name (it is created at start), or " +
                $"ALTER PUBLICATION {_publication} SET (publish = 'insert, update, delete');");
        foreach (var table in capture.Capturable.Where(t => !members.Tables.Contains(t.QualifiedName)))
        {
            await RunAsync(leader, $"ALTER PUBLICATION {_publication} ADD TABLE {Quote(table)}", [table], ct);
            added.Add(table);
        }
        foreach (var member in members.Tables)
        {
            var listed = capture.Tables.Any(t => t.Exists && t.QualifiedName == member);
            if (listed || !states.TryGetValue(member, out var state) || !state.AddedBySource) continue;
            var (schema, name) = (member[..member.IndexOf('.')], member[(member.IndexOf('.') + 1)..]);
            await RunAsync(leader, $"ALTER PUBLICATION {_publication} DROP TABLE {TableRows.QuoteName(schema)}.{TableRows.QuoteName(name)}", [], ct);
            removed.Add(member);
        }
        return (added, removed);
    }

    private static string Quote(CapturedTableInfo t) => $"{TableRows.QuoteName(t.Schema!)}.{TableRows.QuoteName(t.Listed.Name)}";

    private async Task RunAsync(SourceLeadership leader, string sql, IReadOnlyList<CapturedTableInfo> tables, CancellationToken ct, bool createdIfDuplicate = false)
    {
        try
        {
            await leader.RunAsync(async conn =>
            {
                await using var cmd = new NpgsqlCommand(sql, conn);
                await cmd.ExecuteNonQueryAsync(ct);
            }, ct);
        }
        catch (PostgresException e) when (createdIfDuplicate && e.SqlState == PostgresErrorCodes.DuplicateObject)
        {
            // Created meanwhile by someone else: its membership is checked next.
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new NotRetriableException(
                $"The source may not change publication {_publication} (PostgreSQL: {e.MessageText}). It needs CREATE on the database and " +
                $"ownership of the tables; or have the owner run: {sql};", e);
        }
    }

    private sealed record Publication(string? Problem, HashSet<string> Tables);

    private async Task<Publication?> ReadPublicationAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            SELECT p.puballtables, p.pubinsert AND p.pubupdate AND p.pubdelete,
                   coalesce((SELECT array_agg(t.schemaname || '.' || t.tablename) FROM pg_publication_tables t WHERE t.pubname = p.pubname), '{}')
            FROM pg_publication p WHERE p.pubname = @name
            """);
        cmd.Parameters.AddWithValue("name", options.PublicationName);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        var tables = r.GetFieldValue<string[]>(2).ToHashSet(StringComparer.Ordinal);
        if (r.GetBoolean(0)) return new Publication("is FOR ALL TABLES (the source cannot choose its tables in it)", tables);
        return new Publication(r.GetBoolean(1) ? null : "does not publish all of insert, update and delete", tables);
    }

    public async Task<SlotInfo?> ReadSlotAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            SELECT plugin, database, active, wal_status, current_database(), confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = @slot
            """);
        cmd.Parameters.AddWithValue("slot", options.SlotName);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        var slot = new SlotInfo(r.IsDBNull(0) ? "(physical)" : r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1),
            r.GetBoolean(2), r.IsDBNull(3) ? null : r.GetString(3), r.IsDBNull(5) ? null : (ulong)r.GetFieldValue<NpgsqlTypes.NpgsqlLogSequenceNumber>(5));
        var database = r.GetString(4);
        if (slot.Plugin != "pgoutput" || slot.Database != database)
            throw new NotRetriableException(
                $"Replication slot {options.SlotName} (Source:Slot) already exists for {slot.Plugin} in database {slot.Database ?? "(none)"}, " +
                $"not for pgoutput in {database}: it belongs to something else. Fix: set Source:Slot to another name.");
        return slot;
    }

    /// <summary>
    /// Drops the slot, on the leader's connection (only the lock holder may; PostgreSQL also refuses a slot someone
    /// streams from).
    /// </summary>
    public Task DropSlotAsync(SourceLeadership leader, CancellationToken ct) => leader.RunAsync(async conn =>
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_drop_replication_slot(@slot)", conn);
        cmd.Parameters.AddWithValue("slot", options.SlotName);
        await cmd.ExecuteNonQueryAsync(ct);
    }, ct);
}
