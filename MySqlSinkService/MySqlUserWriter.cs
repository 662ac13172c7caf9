using System.Data;
using MySqlConnector;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>
/// Writes a batch in one MySQL transaction: the records are staged (large batches by <see cref="MySqlBulkCopy"/>,
/// LOAD DATA LOCAL INFILE; small ones by multi-row INSERT, which starts sooner), then guarded and applied by the same
/// set-based statements (<see cref="UsersTable"/>), so both paths give the same rows, synced_at and rejections. A data
/// error (a value too long, a duplicate id in Insert mode) does not lose the batch: it is staged and applied again id
/// by id and only the refused records are returned, to be dead-lettered. Any other error (MySQL down, a deadlock) is
/// thrown: the caller retries the batch.
/// </summary>
public sealed class MySqlUserWriter
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

    // LOAD DATA LOCAL refused by the server (MySQL 8 ships with local_infile=OFF): stage by INSERT instead.
    private static readonly HashSet<int> s_localInfileRefused = [1148, 3948, 4166];

    private readonly string _connectionString;
    private readonly string _bulkConnectionString;
    private readonly UsersTable _table;
    private readonly int _statementRows;
    private readonly int _bulkThreshold;
    private readonly Action<string> _warn;
    private bool _bulkRefused;

    /// <param name="bulkThreshold">Batches of at least this many records are staged by bulk copy (int.MaxValue: never).</param>
    public MySqlUserWriter(string connectionString, UsersTable table, int statementRows, int bulkThreshold, Action<string> warn)
    {
        _connectionString = new MySqlConnectionStringBuilder(connectionString) { AllowLoadLocalInfile = false }.ConnectionString;
        // The only connections that may read a local file for the server: the ones the bulk copy opens.
        _bulkConnectionString = new MySqlConnectionStringBuilder(connectionString) { AllowLoadLocalInfile = true }.ConnectionString;
        _table = table;
        _statementRows = statementRows;
        _bulkThreshold = bulkThreshold;
        _warn = warn;
    }

    public static bool IsDataError(Exception e) => e is MySqlException m && s_dataErrors.Contains(m.Number);

    /// <summary>Applies the records (one per id) and commits; returns the ids MySQL refused for a data reason.</summary>
    public async Task<List<(long Id, MySqlException Error)>> WriteAsync(IReadOnlyList<StagedRecord> records, CancellationToken ct)
    {
        if (records.Count == 0) return [];
        try
        {
            var bulk = !_bulkRefused && records.Count >= _bulkThreshold;
            try
            {
                await ApplyAsync(records, bulk, oneByOne: false, ct);
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
            await ApplyAsync(records, bulk: false, oneByOne: false, ct);
            return [];
        }
        catch (MySqlException e) when (IsDataError(e))
        {
            // The failed statement was rolled back with its transaction; find the culprits one id at a time.
            return await ApplyAsync(records, bulk: false, oneByOne: true, ct);
        }
        catch (Exception e) when (!IsDataError(e))
        {
            // Connections of a restarted or unreachable server are dead: do not hand them out again.
            MySqlConnection.ClearAllPools();
            throw;
        }
    }

    private async Task<List<(long, MySqlException)>> ApplyAsync(IReadOnlyList<StagedRecord> records, bool bulk, bool oneByOne, CancellationToken ct)
    {
        await using var conn = new MySqlConnection(bulk ? _bulkConnectionString : _connectionString);
        await conn.OpenAsync(ct);
        await ExecuteAsync(conn, null, SessionSql + ";\n" + _table.StagingSql, ct);
        await using var tx = await conn.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct);
        var refused = new List<(long, MySqlException)>();
        if (!oneByOne)
        {
            if (bulk) await BulkStageAsync(conn, tx, records, ct);
            else await StageAsync(conn, tx, records, ct);
        }
        else
        {
            foreach (var r in records)
            {
                try
                {
                    await StageAsync(conn, tx, [r], ct); // InnoDB rolls back only the failed statement
                }
                catch (MySqlException e) when (IsDataError(e))
                {
                    refused.Add((r.Id, e));
                }
            }
        }
        await ExecuteAsync(conn, tx, _table.GuardSql, ct);
        if (!oneByOne)
        {
            if (records.Any(r => r.User is not null)) await ExecuteAsync(conn, tx, _table.UpsertSql(oneId: false), ct);
            if (records.Any(r => r.User is null)) await ExecuteAsync(conn, tx, _table.DeleteSql(oneId: false), ct);
        }
        else
        {
            var unstaged = refused.Select(f => f.Item1).ToHashSet();
            foreach (var r in records.Where(r => !unstaged.Contains(r.Id)))
            {
                try
                {
                    await ExecuteAsync(conn, tx, r.User is null ? _table.DeleteSql(oneId: true) : _table.UpsertSql(oneId: true), ct, r.Id);
                }
                catch (MySqlException e) when (IsDataError(e))
                {
                    refused.Add((r.Id, e));
                }
            }
        }
        await tx.CommitAsync(ct);
        return refused;
    }

    private async Task StageAsync(MySqlConnection conn, MySqlTransaction tx, IReadOnlyList<StagedRecord> records, CancellationToken ct)
    {
        for (var start = 0; start < records.Count; start += _statementRows)
        {
            var count = Math.Min(_statementRows, records.Count - start);
            await using var cmd = new MySqlCommand(_table.StageSql(count), conn, tx);
            var i = 0;
            for (var r = start; r < start + count; r++)
            {
                foreach (var (type, value) in _table.StagedValues(records[r]))
                    cmd.Parameters.Add(new MySqlParameter("@p" + i++, type) { Value = value ?? DBNull.Value });
            }
            await cmd.ExecuteNonQueryAsync(ct);
        }
    }

    private async Task BulkStageAsync(MySqlConnection conn, MySqlTransaction tx, IReadOnlyList<StagedRecord> records, CancellationToken ct)
    {
        using var data = new DataTable();
        foreach (var column in _table.StagingColumns) data.Columns.Add(column, typeof(object));
        foreach (var r in records) data.Rows.Add([.. _table.StagedValues(r).Select(v => v.Value ?? DBNull.Value)]);
        var bulk = new MySqlBulkCopy(conn, tx) { DestinationTableName = UsersTable.Staging, ConflictOption = MySqlBulkLoaderConflictOption.None };
        var result = await bulk.WriteToServerAsync(data, ct);
        // LOAD DATA LOCAL turns conversion errors into warnings: never let a converted value through.
        if (result.Warnings.Count > 0 || result.RowsInserted != records.Count)
            throw new BulkCopyIncompleteException($"bulk copy staged {result.RowsInserted} of {records.Count} rows with {result.Warnings.Count} warnings ({(result.Warnings.Count > 0 ? result.Warnings[0].Message : "no warning")})");
    }

    private sealed class BulkCopyIncompleteException(string message) : Exception(message);

    private static async Task ExecuteAsync(MySqlConnection conn, MySqlTransaction? tx, string sql, CancellationToken ct, long? id = null)
    {
        await using var cmd = new MySqlCommand(sql, conn, tx);
        if (id is long value) cmd.Parameters.AddWithValue("@id", value);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
