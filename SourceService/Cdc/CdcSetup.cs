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
    private readonly string _table = SqlIdentifier.QuotePostgres(options.Table);
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
        "Until then Source:Mode=TimestampIncrementing polls instead (README: what polling misses).";

    public static string NoReplicationProblem(string role) =>
        $"Role \"{role}\" lacks the REPLICATION attribute that logical replication (Source:Mode=Cdc) needs. " +
        $"Fix, as a superuser: ALTER ROLE \"{role}\" REPLICATION; (pg_hba.conf must also allow its replication connections). " +
        "Until then Source:Mode=TimestampIncrementing polls instead (README: what polling misses).";

    /// <summary>
    /// Creates the publication of the table (inserts, updates, deletes; no truncate) when missing, else checks that it
    /// publishes exactly that table and those operations.
    /// </summary>
    public async Task EnsurePublicationAsync(CancellationToken ct)
    {
        var existing = await ReadPublicationAsync(ct);
        if (existing is null)
        {
            try
            {
                await using var create = db.CreateCommand(
                    $"CREATE PUBLICATION {_publication} FOR TABLE {_table} WITH (publish = 'insert, update, delete')");
                await create.ExecuteNonQueryAsync(ct);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateObject)
            {
                // Created meanwhile by someone else: check theirs below.
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
            {
                throw new NotRetriableException(
                    $"The source may not create publication {_publication} (PostgreSQL: {e.MessageText}). It needs CREATE on the " +
                    $"database and ownership of table {_table}; or have the owner run: CREATE PUBLICATION {_publication} FOR TABLE {_table} " +
                    "WITH (publish = 'insert, update, delete');", e);
            }
            existing = await ReadPublicationAsync(ct) ?? throw new InvalidOperationException($"publication {_publication} vanished after creation");
        }
        if (existing.Problem is { } problem)
            throw new NotRetriableException(
                $"Publication {_publication} (Source:Publication) {problem}; the source needs a publication of table {_table} alone, " +
                $"with inserts, updates and deletes. Fix: set Source:Publication to a new name (it is created at start), or " +
                $"ALTER PUBLICATION {_publication} SET TABLE {_table}; ALTER PUBLICATION {_publication} SET (publish = 'insert, update, delete');");
    }

    private sealed record Publication(string? Problem);

    private async Task<Publication?> ReadPublicationAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            SELECT p.puballtables, p.pubinsert AND p.pubupdate AND p.pubdelete,
                   coalesce((SELECT array_agg(format('%I.%I', t.schemaname, t.tablename) ORDER BY 1)
                             FROM pg_publication_tables t WHERE t.pubname = p.pubname), '{}'),
                   format('%I.%I', current_schema(), @table)
            FROM pg_publication p WHERE p.pubname = @name
            """);
        cmd.Parameters.AddWithValue("name", options.PublicationName);
        cmd.Parameters.AddWithValue("table", options.Table);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        var allTables = r.GetBoolean(0);
        var allOperations = r.GetBoolean(1);
        var tables = r.GetFieldValue<string[]>(2);
        var expected = r.GetString(3);
        if (allTables) return new Publication("is FOR ALL TABLES");
        if (tables.Length != 1 || tables[0] != expected)
            return new Publication($"publishes {(tables.Length == 0 ? "no table" : string.Join(", ", tables))}, not {expected} alone");
        return new Publication(allOperations ? null : "does not publish all of insert, update and delete");
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
