using MySqlConnector;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>
/// Writes a batch in one MySQL transaction. A data error (a value too long, a duplicate key in Insert mode, ...) does
/// not lose the batch: it is written again row by row and only the failing rows are returned, to be dead-lettered.
/// Any other error (MySQL down, connection lost, lock timeout, privileges) is thrown: the caller retries the batch.
/// </summary>
public sealed class MySqlUserWriter(string connectionString, UsersTable table, int statementRows)
{
    // Strict mode: a value that does not fit is an error (and goes to the DLQ), never silently truncated.
    private const string SessionSql = "SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'";

    /// <summary>MySQL error numbers caused by the record's data, not by the server's state.</summary>
    private static readonly HashSet<int> s_dataErrors =
    [
        1048, // ER_BAD_NULL_ERROR
        1062, // ER_DUP_ENTRY (Insert mode)
        1264, // ER_WARN_DATA_OUT_OF_RANGE
        1265, // WARN_DATA_TRUNCATED
        1292, // ER_TRUNCATED_WRONG_VALUE (e.g. a date MySQL cannot hold)
        1300, // ER_INVALID_CHARACTER_STRING
        1366, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
        1367, // ER_ILLEGAL_VALUE_FOR_TYPE
        1406, // ER_DATA_TOO_LONG
        1411, // ER_WRONG_VALUE_FOR_TYPE
        1452, // ER_NO_REFERENCED_ROW_2 (a foreign key someone added)
        1690, // ER_DATA_OUT_OF_RANGE
        3819, // ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
        4025, // ER_CONSTRAINT_FAILED (MariaDB CHECK)
    ];

    public static bool IsDataError(Exception e) => e is MySqlException m && s_dataErrors.Contains(m.Number);

    /// <summary>Writes <paramref name="rows"/> and commits; returns the rows MySQL refused for a data reason.</summary>
    public List<(PendingRow Row, MySqlException Error)> Write(IReadOnlyList<PendingRow> rows)
    {
        if (rows.Count == 0) return [];
        try
        {
            try
            {
                WriteAll(rows);
                return [];
            }
            catch (MySqlException e) when (IsDataError(e))
            {
                // The failed statement was rolled back with its transaction; find the culprits one row at a time.
                return WriteRowByRow(rows);
            }
        }
        catch (Exception e) when (!IsDataError(e))
        {
            // Connections of a restarted or unreachable server are dead: do not hand them out again.
            MySqlConnection.ClearAllPools();
            throw;
        }
    }

    private void WriteAll(IReadOnlyList<PendingRow> rows)
    {
        using var conn = Open();
        using var tx = conn.BeginTransaction();
        for (var start = 0; start < rows.Count; start += statementRows)
        {
            var count = Math.Min(statementRows, rows.Count - start);
            using var cmd = new MySqlCommand(table.InsertSql(count), conn, tx);
            UsersTable.AddParameters(cmd.Parameters, Enumerable.Range(start, count).Select(i => rows[i].User));
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    private List<(PendingRow, MySqlException)> WriteRowByRow(IReadOnlyList<PendingRow> rows)
    {
        var failed = new List<(PendingRow, MySqlException)>();
        using var conn = Open();
        using var tx = conn.BeginTransaction();
        using var cmd = new MySqlCommand(table.InsertSql(1), conn, tx);
        foreach (var row in rows)
        {
            cmd.Parameters.Clear();
            UsersTable.AddParameters(cmd.Parameters, [row.User]);
            try
            {
                cmd.ExecuteNonQuery();
            }
            catch (MySqlException e) when (IsDataError(e))
            {
                // InnoDB rolls back only the failed statement; the transaction goes on.
                failed.Add((row, e));
            }
        }
        tx.Commit();
        return failed;
    }

    private MySqlConnection Open()
    {
        var conn = new MySqlConnection(connectionString);
        try
        {
            conn.Open();
            using var session = new MySqlCommand(SessionSql, conn);
            session.ExecuteNonQuery();
            return conn;
        }
        catch
        {
            conn.Dispose();
            throw;
        }
    }
}
