using System.Data;
using System.Runtime.CompilerServices;
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

    /// <summary>Every row of the table as the connection's transaction sees it (binary COPY).</summary>
    public static async IAsyncEnumerable<DecodedRow> ReadTableAsync(NpgsqlConnection connection, string table,
        [EnumeratorCancellation] CancellationToken ct)
    {
        await using var copy = await connection.BeginBinaryExportAsync(
            $"COPY (SELECT {string.Join(", ", UsersSchema.Columns)}, trace_parent FROM {SqlIdentifier.QuotePostgres(table)}) TO STDOUT (FORMAT BINARY)", ct);
        while (await copy.StartRowAsync(ct) != -1)
        {
            var user = new UserRecord
            {
                Id = await copy.ReadAsync<long>(NpgsqlDbType.Bigint, ct),
                Name = await copy.ReadAsync<string>(NpgsqlDbType.Text, ct),
                Username = await copy.ReadAsync<string>(NpgsqlDbType.Text, ct),
                Sex = await copy.ReadAsync<string>(NpgsqlDbType.Text, ct),
                Address = await copy.ReadAsync<string>(NpgsqlDbType.Text, ct),
                Mail = await copy.ReadAsync<string>(NpgsqlDbType.Text, ct),
                Birthdate = await copy.ReadAsync<DateOnly>(NpgsqlDbType.Date, ct),
                Job = await copy.ReadAsync<string>(NpgsqlDbType.Text, ct),
                Company = await copy.ReadAsync<string>(NpgsqlDbType.Text, ct),
                Ssn = await copy.ReadAsync<string>(NpgsqlDbType.Text, ct),
                Residence = await copy.ReadAsync<string>(NpgsqlDbType.Text, ct),
                CreatedAt = await copy.ReadAsync<DateTime>(NpgsqlDbType.TimestampTz, ct),
                UpdatedAt = await copy.ReadAsync<DateTime>(NpgsqlDbType.TimestampTz, ct),
            };
            string? traceParent = null;
            if (copy.IsNull) await copy.SkipAsync(ct);
            else traceParent = await copy.ReadAsync<string>(NpgsqlDbType.Text, ct);
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
        await foreach (var row in ReadTableAsync(snapshot, options.Table, ct))
        {
            var value = UserRecordJson.Serialize(row.User);
            if (topicState is not null && topicState.Remove(row.User.Id, out var held) && held == TopicState.Hash(value))
            {
                unchanged++;
                continue;
            }
            publisher.Publish(new ChangeEvent(row.User.Id, ChangeOp.Read, value, row.TraceParent, version, index++, snapshotTime), tx);
        }
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
