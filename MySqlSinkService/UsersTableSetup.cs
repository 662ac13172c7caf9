using KafkaPipeline.Shared;
using MySqlConnector;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>Start-up: creates the table (and its delete markers) when missing and checks that the sink can write it.</summary>
public static class UsersTableSetup
{
    /// <summary>
    /// Throws <see cref="NotRetriableException"/> when the table exists with another layout (a configuration problem
    /// retrying will not fix); any other error (MySQL not reachable yet) is thrown as is, for the caller to retry.
    /// </summary>
    public static async Task EnsureAsync(string connectionString, UsersTable table, CancellationToken ct)
    {
        await using var conn = new MySqlConnection(connectionString);
        await conn.OpenAsync(ct);
        // IF NOT EXISTS: a concurrent creator (another instance) may get there first.
        await using (var create = new MySqlCommand(table.CreateSql, conn)) await create.ExecuteNonQueryAsync(ct);

        var columns = new Dictionary<string, bool>(StringComparer.OrdinalIgnoreCase); // name -> must be written (NOT NULL, no default)
        await using (var query = new MySqlCommand(
            "SELECT COLUMN_NAME, IS_NULLABLE = 'NO' AND COLUMN_DEFAULT IS NULL AND EXTRA NOT LIKE '%auto_increment%' " +
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = @t", conn))
        {
            query.Parameters.AddWithValue("@t", table.Name);
            await using var reader = await query.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) columns[reader.GetString(0)] = reader.GetBoolean(1);
        }
        var missing = table.WrittenColumns.Where(c => !columns.ContainsKey(c)).ToList();
        if (missing.Count > 0)
            throw new NotRetriableException($"MySQL table {table.Name} exists but does not have the sink's columns (missing {string.Join(", ", missing)}); " +
                "drop it or choose another MySqlSink:Table.");
        var unwritten = columns.Where(c => c.Value && !table.WrittenColumns.Contains(c.Key, StringComparer.OrdinalIgnoreCase)).Select(c => c.Key).ToList();
        if (unwritten.Count > 0)
            throw new NotRetriableException($"MySQL table {table.Name} has NOT NULL columns without a default that the sink does not write " +
                $"({string.Join(", ", unwritten)}); add them to MySqlSink:Columns or drop the table.");
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
