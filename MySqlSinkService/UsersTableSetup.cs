using KafkaPipeline.Shared;
using MySqlConnector;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>Start-up: waits for MySQL, then creates the table when missing and checks it has the sink's columns.</summary>
public static class UsersTableSetup
{
    public static async Task EnsureAsync(string connectionString, UsersTable table, ILogger logger, CancellationToken ct)
    {
        var problem = await StartupRetry.WaitForAsync(
            $"MySQL at {Describe(connectionString)} (to create table {table.Name})",
            _ => Task.FromResult(CreateOrCheck(connectionString, table, logger)),
            logger, ct);
        // A table of the same name but another layout is a configuration problem: retrying will not fix it.
        if (problem is not null) throw new InvalidOperationException(problem);
    }

    /// <summary>Returns a message when the table exists but cannot be written by the sink; throws when MySQL is unreachable.</summary>
    private static string? CreateOrCheck(string connectionString, UsersTable table, ILogger logger)
    {
        using var conn = new MySqlConnection(connectionString);
        conn.Open();
        table.UseRowAlias = UsersTable.SupportsRowAlias(conn.ServerVersion);
        try
        {
            Execute(conn, table.ProbeSql);
            return null;
        }
        catch (MySqlException e) when (e.Number == 1146) // ER_NO_SUCH_TABLE
        {
            // Only CREATE when the probe says the table is missing (a CREATE TABLE IF NOT EXISTS of an existing table
            // leaves a note in the server log for nothing). A concurrent creator may still get there first, which
            // IF NOT EXISTS tolerates.
            Execute(conn, table.CreateSql);
            logger.LogInformation("Created MySQL table {Table}", table.Name);
            Execute(conn, table.ProbeSql);
            return null;
        }
        catch (MySqlException e) when (e.Number == 1054) // ER_BAD_FIELD_ERROR
        {
            return $"MySQL table {table.Name} exists but does not have the sink's columns ({e.Message}); " +
                   "drop it or choose another MySqlSink:Table.";
        }
    }

    private static void Execute(MySqlConnection conn, string sql)
    {
        using var cmd = new MySqlCommand(sql, conn);
        cmd.ExecuteNonQuery();
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
