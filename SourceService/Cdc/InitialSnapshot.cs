using System.Data;
using System.Text.RegularExpressions;
using System.Text;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using Npgsql;
using NpgsqlTypes;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// The initial load of a new slot: the table exactly as of the slot's consistent point, read on a second connection
/// inside the snapshot the slot exported, published as op "r" with the consistent point as commit LSN. Every change
/// committed after that point comes from the slot, every one before it is in the snapshot: no gap, no overlap.
/// </summary>
public sealed partial class InitialSnapshot(string connectionString, SourceOptions options, TableRows rows, ILogger logger)
{
    [GeneratedRegex(@"\A[0-9A-F]+-[0-9A-F]+(-[0-9]+)?\z")]
    private static partial Regex SnapshotName();

    /// <summary>
    /// Opens the snapshot transaction. Must run before the replication connection that created the slot runs its next
    /// command: PostgreSQL drops the exported snapshot then.
    /// </summary>
    public async Task<NpgsqlConnection> OpenAsync(string snapshotName, CancellationToken ct)
    {
        if (!SnapshotName().IsMatch(snapshotName)) throw new InvalidOperationException($"unexpected snapshot name '{snapshotName}'");
        var connection = new NpgsqlConnection(connectionString);
        try
        {
            await connection.OpenAsync(ct);
            var tx = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct);
            await using var set = new NpgsqlCommand($"SET TRANSACTION SNAPSHOT '{snapshotName}'", connection, tx);
            await set.ExecuteNonQueryAsync(ct);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Publishes every row of the snapshot. With <paramref name="topicState"/> (the topic was not empty), rows the topic
    /// already holds unchanged are not sent again, and keys it holds that the table no longer has get a tombstone.
    /// Returns once Kafka acknowledged everything.
    /// </summary>
    public async Task<long> PublishAsync(NpgsqlConnection snapshot, ulong consistentPoint, Dictionary<string, UInt128>? topicState,
        ChangePublisher publisher, FlushTracker tracker, CancellationToken ct)
    {
        DateTime snapshotTime;
        await using (var now = new NpgsqlCommand("SELECT now()", snapshot))
        {
            snapshotTime = (DateTime)(await now.ExecuteScalarAsync(ct))!;
        }
        var (schema, name) = await TableCatalog.ResolveAsync(snapshot, options.Table, ct)
            ?? throw new InvalidOperationException($"table {options.Table} does not exist");
        var table = await rows.DescribeAsync(snapshot, schema, name, ct);
        var columns = await TableCatalog.ColumnsAsync(snapshot, schema, name, ct);
        var query = $"SELECT {TableRows.SelectList(table, columns)} FROM {TableRows.QuoteName(schema)}.{TableRows.QuoteName(name)}";
        var version = new SourceVersion(consistentPoint, 0);
        var tx = tracker.Begin();
        long index = 0, unchanged = 0;
        await Task.Run(() =>
        {
            using var writer = new ChangeEventWriter();
            foreach (var (row, _) in rows.Read(snapshot, table, query, 0, ct))
            {
                var key = EventKeys.Key(table.Schema, row.Values)
                    ?? throw new InvalidOperationException($"{table.Table} has no key: it needs a primary key or a replica identity index");
                var value = writer.Value(table.Schema, row.Values);
                if (topicState is not null && topicState.Remove(Encoding.UTF8.GetString(key), out var held) && held == TopicState.Hash(value))
                {
                    unchanged++;
                    continue;
                }
                publisher.Publish(new ChangeEvent(key, ChangeOp.Read, value, row.TraceParent, version, index++, snapshotTime, table.Table), tx);
            }
        }, ct);
        long tombstones = 0;
        foreach (var gone in topicState?.Keys ?? Enumerable.Empty<string>())
        {
            publisher.Publish(new ChangeEvent(Encoding.UTF8.GetBytes(gone), ChangeOp.Delete, null, null, version, index++, snapshotTime, table.Table), tx);
            tombstones++;
        }
        tracker.Close(tx, consistentPoint);
        await tracker.WaitForAsync(consistentPoint, ct);
        logger.LogInformation(
            "Initial snapshot at {Lsn} of {Table} in Kafka: {Rows} rows published, {Unchanged} already in the topic unchanged, {Tombstones} tombstones for keys the table no longer has",
            SourceVersion.FormatLsn(consistentPoint), table.Table, index - tombstones, unchanged, tombstones);
        return index;
    }
}
