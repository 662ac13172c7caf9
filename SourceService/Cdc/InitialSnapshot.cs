using System.Data;
using System.Text.RegularExpressions;
using KafkaPipeline.Shared;
using Npgsql;
using NpgsqlTypes;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// The initial load of a new slot: the table exactly as of the slot's consistent point, read on a second connection
/// inside the snapshot the slot exported, published as op "r" with the consistent point as commit LSN. Every change
/// committed after that point comes from the slot, every one before it is in the snapshot: no gap, no overlap.
/// </summary>
public sealed partial class InitialSnapshot(string connectionString, SourceOptions options, ILogger logger)
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
    /// Every row of the table as the connection's transaction sees it (binary COPY). Synchronous reads: the rows stream
    /// in without pause, and per-column async state machines cost more than the waits they would save.
    /// </summary>
    public static IEnumerable<DecodedRow> ReadTable(NpgsqlConnection connection, string table, CancellationToken ct)
    {
        using var copy = connection.BeginBinaryExport(
            $"COPY (SELECT {string.Join(", ", UsersSchema.Columns)}, trace_parent FROM {SqlIdentifier.QuotePostgres(table)}) TO STDOUT (FORMAT BINARY)");
        while (copy.StartRow() != -1)
        {
            ct.ThrowIfCancellationRequested();
            var user = new UserRecord
            {
                Id = copy.Read<long>(NpgsqlDbType.Bigint),
                Name = copy.Read<string>(NpgsqlDbType.Text),
                Username = copy.Read<string>(NpgsqlDbType.Text),
                Sex = copy.Read<string>(NpgsqlDbType.Text),
                Address = copy.Read<string>(NpgsqlDbType.Text),
                Mail = copy.Read<string>(NpgsqlDbType.Text),
                Birthdate = copy.Read<DateOnly>(NpgsqlDbType.Date),
                Job = copy.Read<string>(NpgsqlDbType.Text),
                Company = copy.Read<string>(NpgsqlDbType.Text),
                Ssn = copy.Read<string>(NpgsqlDbType.Text),
                Residence = copy.Read<string>(NpgsqlDbType.Text),
                CreatedAt = copy.Read<DateTime>(NpgsqlDbType.TimestampTz),
                UpdatedAt = copy.Read<DateTime>(NpgsqlDbType.TimestampTz),
            };
            string? traceParent = null;
            if (copy.IsNull) copy.Skip();
            else traceParent = copy.Read<string>(NpgsqlDbType.Text);
            yield return new DecodedRow(user, traceParent);
        }
    }

    /// <summary>
    /// Publishes every row of the snapshot. With <paramref name="topicState"/> (the topic was not empty), rows the topic
    /// already holds unchanged are not sent again, and keys it holds that the table no longer has get a tombstone.
    /// Returns once Kafka acknowledged everything.
    /// </summary>
    public async Task<long> PublishAsync(NpgsqlConnection snapshot, ulong consistentPoint, Dictionary<long, UInt128>? topicState,
        ChangePublisher publisher, FlushTracker tracker, CancellationToken ct)
    {
        DateTime snapshotTime;
        await using (var now = new NpgsqlCommand("SELECT now()", snapshot))
        {
            snapshotTime = (DateTime)(await now.ExecuteScalarAsync(ct))!;
        }
        var version = new SourceVersion(consistentPoint, 0);
        var tx = tracker.Begin();
        long index = 0, unchanged = 0;
        await Task.Run(() =>
        {
            foreach (var row in ReadTable(snapshot, options.Table, ct))
            {
                var value = UserRecordJson.Serialize(row.User);
                if (topicState is not null && topicState.Remove(row.User.Id, out var held) && held == TopicState.Hash(value))
                {
                    unchanged++;
                    continue;
                }
                publisher.Publish(new ChangeEvent(row.User.Id, ChangeOp.Read, value, row.TraceParent, version, index++, snapshotTime), tx);
            }
        }, ct);
        long tombstones = 0;
        foreach (var gone in topicState?.Keys ?? Enumerable.Empty<long>())
        {
            publisher.Publish(new ChangeEvent(gone, ChangeOp.Delete, null, null, version, index++, snapshotTime), tx);
            tombstones++;
        }
        tracker.Close(tx, consistentPoint);
        await tracker.WaitForAsync(consistentPoint, ct);
        logger.LogInformation(
            "Initial snapshot at {Lsn} in Kafka: {Rows} rows published, {Unchanged} already in the topic unchanged, {Tombstones} tombstones for keys the table no longer has",
            SourceVersion.FormatLsn(consistentPoint), index - tombstones, unchanged, tombstones);
        return index;
    }
}
