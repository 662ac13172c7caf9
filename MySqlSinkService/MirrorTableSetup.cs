using KafkaPipeline.Shared;
using MySqlConnector;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>
/// Start-up: the sink's schema-change table, and a check of the table it writes when it exists (it is created from the
/// first record's schema, <see cref="SchemaEvolution"/>): it must be the sink's, and one of an earlier release gets the
/// version columns it lacks.
/// </summary>
public static class MirrorTableSetup
{
    /// <summary>
    /// Throws <see cref="NotRetriableException"/> when the table exists but is not the sink's (a configuration problem
    /// retrying will not fix); any other error (MySQL not reachable yet) is thrown as is, for the caller to retry.
    /// </summary>
    public static async Task EnsureAsync(string connectionString, MirrorTable table, Action<string> log, CancellationToken ct)
    {
        await using var conn = new MySqlConnection(connectionString);
        await conn.OpenAsync(ct);
        await ExecuteAsync(conn, SchemaChanges.CreateSql, ct); // IF NOT EXISTS: a concurrent instance may get there first

        if (await TableLayout.ReadAsync(conn, table.Name, ct) is not { } layout) return;
        string[] own = [RecordVersion.CommitLsnColumn, RecordVersion.ChangeLsnColumn, MirrorTable.SyncedAt];
        var missing = own.Where(c => !layout.Has(c)).ToList();
        if (missing.Count > 0 || layout.Key.Count == 0)
            throw new NotRetriableException($"MySQL table {table.Name} exists but is not the sink's (it has no " +
                $"{(missing.Count > 0 ? string.Join(", ", missing) : "primary key")}); drop it or choose another MySqlSink:Table.");
        var upgrade = MirrorTable.UpgradeSql(table.Quoted, layout, markers: false);
        if (await TableLayout.ReadAsync(conn, table.DeletedName, ct) is { } markers)
            upgrade.AddRange(MirrorTable.UpgradeSql(table.QuotedDeleted, markers, markers: true));
        foreach (var sql in upgrade) await ExecuteAsync(conn, sql, ct);
        if (upgrade.Count > 0) log($"MySQL table {table.Name} upgraded to the sink's version columns ({upgrade.Count} statements)");
    }

    private static async Task ExecuteAsync(MySqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new MySqlCommand(sql, conn) { CommandTimeout = 0 }; // an upgrade UPDATE may take long on a large table
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Server, port and database, never the password.</summary>
    public static string Describe(string connectionString)
    {
        try
        {
            var b = new MySqlConnectionStringBuilder(connectionString);
            return $"{b.Server}:{b.Port}/{b.Database}";
        }
        catch (ArgumentException)
        {
            return "(unparsable connection string)";
        }
    }
}
