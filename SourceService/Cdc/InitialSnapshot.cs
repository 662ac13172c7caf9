using System.Data;
using System.Text.RegularExpressions;
using System.Text;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using Npgsql;
using NpgsqlTypes;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// The initial load of a new slot: each captured table exactly as of the slot's consistent point, read on a second connection
/// inside the snapshot the slot exported, published as op "r" with the consistent point as commit LSN. Every change
/// committed after that point comes from the slot, every one before it is in the snapshot: no gap, no overlap.
/// </summary>
public sealed partial class InitialSnapshot(string connectionString, TableRows rows, ILogger logger)
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
    /// Publishes every row of each table as of the snapshot, to its topic. With a topic's state (the topic was not empty),
    /// rows it already holds unchanged are not sent again, and keys it holds that the table no longer has get a
    /// tombstone. Returns once Kafka acknowledged everything.
    /// </summary>
    public async Task<long> PublishAsync(NpgsqlConnection snapshot, ulong consistentPoint, IReadOnlyList<CapturedTableInfo> tables,
        IReadOnlyDictionary<string, Dictionary<string, UInt128>?> topicStates, ChangePublisher publisher, FlushTracker tracker, CancellationToken ct)
    {
        DateTime snapshotTime;
        await using (var now = new NpgsqlCommand("SELECT now()", snapshot))
        {
            snapshotTime = (DateTime)(await now.ExecuteScalarAsync(ct))!;
        }
        var version = new SourceVersion(consistentPoint, 0);
        var tx = tracker.Begin();
        long index = 0, total = 0;
        foreach (var info in tables)
        {
            var table = await rows.DescribeAsync(snapshot, info.Schema!, info.Listed.Name, info.Topic, ct);
            var columns = await TableCatalog.ColumnsAsync(snapshot, info.Schema!, info.Listed.Name, ct);
            var query = $"SELECT {TableRows.SelectList(table, columns)} FROM {TableRows.QuoteName(info.Schema!)}.{TableRows.QuoteName(info.Listed.Name)}";
            var topicState = topicStates.GetValueOrDefault(info.Topic);
            long published = 0, unchanged = 0, tombstones = 0;
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
                    publisher.Publish(new ChangeEvent(info.Topic, key, ChangeOp.Read, value, row.TraceParent, version, index++, snapshotTime, table.Table), tx);
                    published++;
                }
            }, ct);
            foreach (var gone in topicState?.Keys ?? Enumerable.Empty<string>())
            {
                publisher.Publish(new ChangeEvent(info.Topic, Encoding.UTF8.GetBytes(gone), ChangeOp.Delete, null, null, version, index++, snapshotTime, table.Table), tx);
                tombstones++;
            }
            total += published + tombstones;
            logger.LogInformation(
                "Initial snapshot at {Lsn} of {Table}: {Rows} rows published to {Topic}, {Unchanged} already in the topic unchanged, {Tombstones} tombstones for keys the table no longer has",
                SourceVersion.FormatLsn(consistentPoint), table.Table, published, info.Topic, unchanged, tombstones);
        }
        tracker.Close(tx, consistentPoint);
        await tracker.WaitForAsync(consistentPoint, ct);
        logger.LogInformation("Initial snapshot at {Lsn} in Kafka: {Events} events of {Tables} tables", SourceVersion.FormatLsn(consistentPoint), total, tables.Count);
        return total;
    }
}
