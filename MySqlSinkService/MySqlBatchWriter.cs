using System.Data;
using MySqlConnector;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>
/// Writes a batch of staged rows in one MySQL transaction: the rows are staged (large batches by
/// <see cref="MySqlBulkCopy"/>, LOAD DATA LOCAL INFILE; small ones by multi-row INSERT, which starts sooner), then
/// guarded and applied by the same set-based statements (<see cref="MirrorStatements"/>), so both paths give the same
/// rows, synced_at and rejections. A data error (a value too long, an existing key in Insert mode) does not lose the
/// batch: it is staged and applied again row by row and only the refused rows are returned, to be dead-lettered. Any
/// other error (MySQL down, a deadlock) is thrown: the caller retries the batch.
/// </summary>
public sealed class MySqlBatchWriter
{
    /// <summary>
    /// Strict mode: a value that does not fit is an error (and goes to the DLQ), never silently truncated. No
    /// NO_BACKSLASH_ESCAPES: the DDL's default literals are escaped for it.
    /// MariaDB only (its executable comment; MySQL 8.4/9 reads a comment and has no such setting): a transaction left
    /// idle for 30 s is ended by the server. A sink instance frozen mid-batch (SIGSTOP, a stalled VM) keeps its TCP
    /// connection alive, and without this its row and gap locks would block the instance that took its partitions over
    /// for as long as it stays frozen. On MySQL the locks stay until the frozen instance wakes or its connection drops.
    /// </summary>
    public const string SessionSql = "SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'" +
        " /*M!100300 , idle_transaction_timeout = 30 */";

    // LOAD DATA LOCAL refused by the server (MySQL 8 ships with local_infile=OFF): stage by INSERT instead.
    private static readonly HashSet<int> s_localInfileRefused = [1148, 3948, 4166];

    private readonly string _connectionString;
    private readonly string _bulkConnectionString;
    private readonly int _statementRows;
    private readonly int _bulkThreshold;
    private readonly Action<string> _warn;
    private bool _bulkRefused;

    /// <param name="bulkThreshold">Batches of at least this many rows are staged by bulk copy (int.MaxValue: never).</param>
    public MySqlBatchWriter(string connectionString, int statementRows, int bulkThreshold, Action<string> warn)
    {
        _connectionString = new MySqlConnectionStringBuilder(connectionString) { AllowLoadLocalInfile = false }.ConnectionString;
        // The only connections that may read a local file for the server: the ones the bulk copy opens.
        _bulkConnectionString = new MySqlConnectionStringBuilder(connectionString) { AllowLoadLocalInfile = true }.ConnectionString;
        _statementRows = statementRows;
        _bulkThreshold = bulkThreshold;
        _warn = warn;
    }

    /// <summary>
    /// Applies the rows (one per key; each <see cref="StagedRow.Values"/> in <see cref="MirrorStatements.StagingColumns"/>
    /// order after src_row) and commits; returns the indexes of the rows MySQL refused for a data reason.
    /// </summary>
    public async Task<List<(int Row, MySqlException Error)>> WriteAsync(MirrorStatements sql, IReadOnlyList<StagedRow> rows, CancellationToken ct)
    {
        if (rows.Count == 0) return [];
        try
        {
            var bulk = !_bulkRefused && rows.Count >= _bulkThreshold;
            try
            {
                await ApplyAsync(sql, rows, bulk, oneByOne: false, ct);
                return [];
            }
            catch (MySqlException e) when (bulk && s_localInfileRefused.Contains(e.Number))
            {
                _bulkRefused = true;
                _warn($"MySQL refuses LOAD DATA LOCAL INFILE ({e.Message}); large batches are staged by INSERT from now on");
            }
            catch (BulkCopyIncompleteException e) when (bulk)
            {
                _warn(e.Message + "; staging this batch by INSERT instead");
            }
            await ApplyAsync(sql, rows, bulk: false, oneByOne: false, ct);
            return [];
        }
        catch (MySqlException e) when (MySqlErrors.IsDataError(e))
        {
            // The failed statement was rolled back with its transaction; find the culprits one row at a time.
            return await ApplyAsync(sql, rows, bulk: false, oneByOne: true, ct);
        }
        catch (Exception e) when (!MySqlErrors.IsDataError(e))
        {
            // Connections of a restarted or unreachable server are dead: do not hand them out again.
            MySqlConnection.ClearAllPools();
            throw;
        }
    }

    private async Task<List<(int, MySqlException)>> ApplyAsync(MirrorStatements sql, IReadOnlyList<StagedRow> rows, bool bulk, bool oneByOne, CancellationToken ct)
    {
        await using var conn = new MySqlConnection(bulk ? _bulkConnectionString : _connectionString);
        await conn.OpenAsync(ct);
        await ExecuteAsync(conn, null, SessionSql + ";\n" + sql.StagingSql, ct);
        await using var tx = await conn.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct);
        var refused = new List<(int, MySqlException)>();
        if (!oneByOne)
        {
            if (bulk) await BulkStageAsync(conn, tx, sql, rows, ct);
            else await StageAsync(conn, tx, sql, rows, 0, rows.Count, ct);
        }
        else
        {
            for (var i = 0; i < rows.Count; i++)
            {
                try
                {
                    await StageAsync(conn, tx, sql, rows, i, 1, ct); // InnoDB rolls back only the failed statement
                }
                catch (MySqlException e) when (MySqlErrors.IsDataError(e))
                {
                    refused.Add((i, e));
                }
            }
        }
        await ExecuteAsync(conn, tx, sql.GuardSql, ct);
        if (!oneByOne)
        {
            if (rows.Any(r => !r.IsDelete)) await ExecuteAsync(conn, tx, sql.UpsertSql(rows.Any(r => r.HasUnchanged), oneRow: false), ct);
            if (rows.Any(r => r.IsDelete)) await ExecuteAsync(conn, tx, sql.DeleteSql(oneRow: false), ct);
        }
        else
        {
            var unstaged = refused.Select(f => f.Item1).ToHashSet();
            for (var i = 0; i < rows.Count; i++)
            {
                if (unstaged.Contains(i)) continue;
                try
                {
                    await ExecuteAsync(conn, tx, rows[i].IsDelete ? sql.DeleteSql(oneRow: true) : sql.UpsertSql(rows[i].HasUnchanged, oneRow: true), ct, i);
                }
                catch (MySqlException e) when (MySqlErrors.IsDataError(e))
                {
                    refused.Add((i, e));
                }
            }
        }
        await tx.CommitAsync(ct);
        return refused;
    }

    private async Task StageAsync(MySqlConnection conn, MySqlTransaction tx, MirrorStatements sql, IReadOnlyList<StagedRow> rows, int from, int count, CancellationToken ct)
    {
        var perStatement = Math.Min(_statementRows, sql.RowsPerStatement);
        for (var start = from; start < from + count; start += perStatement)
        {
            var n = Math.Min(perStatement, from + count - start);
            await using var cmd = new MySqlCommand(sql.StageSql(n), conn, tx);
            var p = 0;
            for (var r = start; r < start + n; r++)
            {
                cmd.Parameters.Add(new MySqlParameter("@p" + p++, r));
                foreach (var value in rows[r].Values) cmd.Parameters.Add(new MySqlParameter("@p" + p++, value ?? DBNull.Value));
            }
            await cmd.ExecuteNonQueryAsync(ct);
        }
    }

    private static async Task BulkStageAsync(MySqlConnection conn, MySqlTransaction tx, MirrorStatements sql, IReadOnlyList<StagedRow> rows, CancellationToken ct)
    {
        using var data = new DataTable();
        foreach (var column in sql.StagingColumns) data.Columns.Add(column, typeof(object));
        var values = new object[sql.StagingColumns.Count];
        for (var r = 0; r < rows.Count; r++)
        {
            values[0] = r;
            for (var c = 0; c < rows[r].Values.Length; c++) values[c + 1] = rows[r].Values[c] ?? DBNull.Value;
            data.Rows.Add(values);
        }
        var bulk = new MySqlBulkCopy(conn, tx) { DestinationTableName = MirrorTable.Staging, ConflictOption = MySqlBulkLoaderConflictOption.None };
        var result = await bulk.WriteToServerAsync(data, ct);
        // LOAD DATA LOCAL turns conversion errors into warnings: never let a converted value through.
        if (result.Warnings.Count > 0 || result.RowsInserted != rows.Count)
            throw new BulkCopyIncompleteException($"bulk copy staged {result.RowsInserted} of {rows.Count} rows with {result.Warnings.Count} warnings " +
                $"({(result.Warnings.Count > 0 ? $"MySQL warning {result.Warnings[0].ErrorCode}" : "no warning")})");
    }

    private sealed class BulkCopyIncompleteException(string message) : Exception(message);

    private static async Task ExecuteAsync(MySqlConnection conn, MySqlTransaction? tx, string sql, CancellationToken ct, int? row = null)
    {
        await using var cmd = new MySqlCommand(sql, conn, tx);
        if (row is int value) cmd.Parameters.AddWithValue("@row", value);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}

/// <summary>
/// One row to stage: in <see cref="MirrorStatements.StagingColumns"/> order after src_row: the op ('u' or 'd'), the
/// written columns' MySQL values (a delete: its key, then nulls), the unchanged columns (a list of data-column
/// ordinals, or null), the version.
/// </summary>
public sealed class StagedRow(object?[] values)
{
    public object?[] Values { get; } = values;
    public bool IsDelete => (string?)Values[0] == "d";

    /// <summary>Some column keeps its stored value (an update did not send it).</summary>
    public bool HasUnchanged => Values[^(RecordVersion.Columns.Length + 1)] is not null;
}
