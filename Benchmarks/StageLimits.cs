using System.Diagnostics;
using System.Text;
using Amazon.S3;
using Confluent.Kafka;
using KafkaPipeline.MySqlSinkService;
using KafkaPipeline.S3SinkService;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Postgres;
using KafkaPipeline.SourceService;
using KafkaPipeline.SourceService.Cdc;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;

namespace KafkaPipeline.Benchmarks;

/// <summary>
/// Each stage alone, with the services' own code and settings: the source's reader and producer, the MySQL sink's
/// writer (same statements, transactions and session), and PUTs of objects the size the S3 sink writes.
/// </summary>
public static class StageLimits
{
    private static TableRows Rows(PgTypeCatalog types) => new(types, "trace_parent", (_, _, _) => { });

    private static byte[] ValueOf(SourceRow r) => ChangeEventWriter.ValueOf(r.Row.Table.Schema, r.Row.Values);

    /// <summary>The source's keyset read (UsersReader, Source defaults) over the whole table; keeps the first rows as a sample.</summary>
    public static async Task<(StageResult Result, List<SourceRow> Sample)> PostgresReadAsync(NpgsqlDataSource db, int sampleSize, CancellationToken ct)
    {
        var options = new SourceOptions { Mode = SourceMode.TimestampIncrementing };
        using var types = new PgTypeCatalog(db);
        var reader = new UsersReader(db, Rows(types), options);
        var sample = new List<SourceRow>(sampleSize);
        var position = SourcePosition.Start;
        long rows = 0;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var batch = await reader.ReadAfterAsync(position, ct);
            if (batch.Count == 0) break;
            rows += batch.Count;
            if (sample.Count < sampleSize) sample.AddRange(batch.Take(sampleSize - sample.Count));
            position = batch[^1].Position;
        }
        var seconds = clock.Elapsed.TotalSeconds;
        return (new StageResult("PostgreSQL keyset read", "rows", rows, seconds,
            $"SourceService UsersReader (the polling source), mode {options.Mode}, {options.BatchSize} rows a query")
        { UsersPerSecond = rows / seconds, OnBackfillPath = false }, sample);
    }

    /// <summary>The Cdc source's initial snapshot read alone: the whole table by binary COPY in a repeatable-read transaction, each row serialized to its JSON value.</summary>
    public static async Task<StageResult> SnapshotReadAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        long rows = 0, bytes = 0;
        using var types = new PgTypeCatalog(db);
        var tableRows = Rows(types);
        var clock = Stopwatch.StartNew();
        var table = await tableRows.DescribeAsync(connection, "public", "users", "P_USERS", ct);
        var query = $"SELECT {TableRows.SelectList(table, await TableCatalog.ColumnsAsync(connection, "public", "users", ct))} FROM public.users";
        await Task.Run(() =>
        {
            using var writer = new ChangeEventWriter();
            foreach (var (row, _) in tableRows.Read(connection, table, query, 0, ct))
            {
                bytes += writer.Value(table.Schema, row.Values).Length;
                rows++;
            }
        }, ct);
        var seconds = clock.Elapsed.TotalSeconds;
        return new StageResult("PostgreSQL snapshot read", "rows", rows, seconds,
            "the Cdc source's TableRows (binary COPY, repeatable read), each row written as its event value")
        { UsersPerSecond = rows / seconds, MegabytesPerSecond = bytes / 1e6 / seconds };
    }

    /// <summary>
    /// A slot and publication of the users table for the logical replication stage, created before the Generator
    /// writes so that its inserts are in the slot's log.
    /// </summary>
    public static async Task CreateReplicationStageAsync(NpgsqlDataSource db, string connectionString, string slot, CancellationToken ct)
    {
        await UsersSchema.EnsureAsync(db, "users", NullLogger.Instance, ct);
        await using (var cmd = db.CreateCommand($"CREATE PUBLICATION {SqlIdentifier.QuotePostgres(slot)} FOR TABLE users"))
            await cmd.ExecuteNonQueryAsync(ct);
        await using var replication = new LogicalReplicationConnection(connectionString);
        await replication.Open(ct);
        await replication.CreatePgOutputReplicationSlot(slot, slotSnapshotInitMode: LogicalSlotSnapshotInitMode.NoExport, cancellationToken: ct);
    }

    /// <summary>
    /// The CDC source's read side alone: the Generator's inserts streamed from the stage slot (pgoutput, binary, as the
    /// source asks for them), each row decoded by the source's RowDecoder and serialized to its JSON value; timed from the
    /// first message. Drops the slot and publication afterwards.
    /// </summary>
    public static async Task<StageResult> LogicalReplicationAsync(NpgsqlDataSource db, string connectionString, string slot, long expected, CancellationToken ct)
    {
        using var types = new PgTypeCatalog(db);
        var options = new SourceOptions();
        var capture = new CaptureSet(options);
        await using (var conn = await db.OpenConnectionAsync(ct)) await capture.RefreshAsync(conn, ct);
        var decoder = new RowDecoder(db, types, capture, options, NullLogger.Instance);
        using var writer = new ChangeEventWriter();
        long events = 0, bytes = 0;
        Stopwatch? clock = null;
        await using (var replication = new LogicalReplicationConnection(connectionString))
        {
            await replication.Open(ct);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(120));
            await foreach (var message in replication.StartReplication(new PgOutputReplicationSlot(slot),
                new PgOutputReplicationOptions(slot, PgOutputProtocolVersion.V1, binary: true), timeout.Token))
            {
                clock ??= Stopwatch.StartNew();
                if (message is RelationMessage relation) await decoder.OnRelationAsync(relation, ct);
                if (message is not InsertMessage insert || decoder.TableOf(insert.Relation) is not { } table) continue;
                var row = await decoder.ReadRowAsync(table, insert.NewRow, ct);
                bytes += writer.Value(table.Schema, row.Values).Length;
                if (++events == expected) break;
            }
        }
        var seconds = clock?.Elapsed.TotalSeconds ?? 0;
        // The walsender of the closed connection may still hold the slot for a moment.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var drop = db.CreateCommand($"SELECT pg_drop_replication_slot(@slot); DROP PUBLICATION {SqlIdentifier.QuotePostgres(slot)}");
                drop.Parameters.AddWithValue("slot", slot);
                await drop.ExecuteNonQueryAsync(ct);
                break;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && attempt < 100)
            {
                await Task.Delay(100, ct);
            }
        }
        return new StageResult("PostgreSQL logical replication", "events", events, seconds,
            "pgoutput (binary) via Npgsql LogicalReplicationConnection, decoded by the Cdc source's RowDecoder and serialized to JSON; the Generator's inserts, timed from the first message")
        {
            UsersPerSecond = events / Math.Max(seconds, 1e-9),
            MegabytesPerSecond = bytes / 1e6 / Math.Max(seconds, 1e-9),
            OnBackfillPath = false, // the backfill reads the table by snapshot; this is the path of every later change
        };
    }

    /// <summary>The source's publish (SourceKafka: idempotent acks=all producer, explicit murmur2 partition, wait for every ack per batch).</summary>
    public static async Task<StageResult> KafkaProduceAsync(string bootstrap, string topic, int partitions, List<SourceRow> sample, CancellationToken ct)
    {
        var batchSize = new SourceOptions().BatchSize;
        using var kafka = new SourceKafka(new KafkaClients(bootstrap, NullLoggerFactory.Instance));
        // The first produce connects and fetches metadata: not part of the rate.
        await kafka.PublishAsync(topic, partitions, sample.Take(1).ToList(), ct);
        var clock = Stopwatch.StartNew();
        foreach (var batch in sample.Skip(1).Chunk(batchSize)) await kafka.PublishAsync(topic, partitions, batch, ct);
        var seconds = clock.Elapsed.TotalSeconds;
        var bytes = sample.Sum(r => (long)ValueOf(r).Length);
        return new StageResult("Kafka produce", "msgs", sample.Count - 1, seconds,
            $"SourceService SourceKafka (KafkaSettings.Producer), {batchSize} messages a batch, acks awaited per batch")
        { UsersPerSecond = (sample.Count - 1) / seconds, MegabytesPerSecond = bytes / 1e6 / seconds };
    }

    /// <summary>A consumer with the sinks' settings (KafkaSettings.Consumer) reading the topic from the start; timed from the first message.</summary>
    public static StageResult KafkaConsume(string bootstrap, string topic, long expected, CancellationToken ct)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(KafkaSettings.Consumer(bootstrap, "kp-bench-consume", "kp-bench"))
            .SetLogHandler((_, _) => { }).Build();
        consumer.Subscribe(topic);
        long count = 0, bytes = 0;
        Stopwatch? clock = null;
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (count < expected && DateTime.UtcNow < deadline)
        {
            ct.ThrowIfCancellationRequested();
            var r = consumer.Consume(TimeSpan.FromMilliseconds(500));
            if (r is null || r.IsPartitionEOF) continue;
            clock ??= Stopwatch.StartNew();
            count++;
            bytes += r.Message.Value?.Length ?? 0;
        }
        var seconds = clock?.Elapsed.TotalSeconds ?? 0;
        consumer.Close();
        if (count < expected) throw new InvalidOperationException($"Kafka consume stage read {count} of {expected} messages in 120 s");
        return new StageResult("Kafka consume", "msgs", count, seconds,
            "KafkaSettings.Consumer (the sinks' settings), one consumer, 4 partitions, timed from the first message")
        { UsersPerSecond = count / seconds, MegabytesPerSecond = bytes / 1e6 / seconds };
    }

    /// <summary>
    /// The MySQL sink's task (MySqlSinkTask.PutAsync: the table created from the events' schema, values converted,
    /// staged, then the guarded set-based upsert) into a table of its own, in the sink's batch size and with its default
    /// excluded columns and bulk threshold.
    /// </summary>
    public static async Task<StageResult> MySqlUpsertAsync(string connectionString, List<SourceRow> sample, CancellationToken ct)
    {
        var options = new MySqlSinkOptions { Table = "users_stage" };
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [$"ConnectionStrings:{ConnectionNames.MySql}"] = connectionString }).Build();
        var task = new MySqlSinkTask(Microsoft.Extensions.Options.Options.Create(options), configuration, new PipelineHealth(), NullLogger<MySqlSinkTask>.Instance);
        await task.StartAsync(new NoContext(), ct);
        long offset = 0;
        var batches = sample.DistinctBy(r => r.Position.Id).Select(r =>
        {
            var row = new RowImage(r.Row.Table.Schema, r.Row.Values, null);
            var key = EventKeys.Key(row.Schema, row.Values)!;
            var message = new ConsumeResult<byte[]?, byte[]?>
            {
                TopicPartitionOffset = new TopicPartitionOffset("P_USERS", 0, offset++),
                Message = new Message<byte[]?, byte[]?> { Key = key },
            };
            return new Shared.Sinks.SinkRecord(message, Encoding.UTF8.GetString(key), row,
                new Shared.Sinks.ChangeSource(ChangeOp.Read, "public.users", default, SourceVersion.None, null, null, r.Position.UpdatedAt));
        }).Chunk(options.BatchSize).ToList();
        var clock = Stopwatch.StartNew();
        foreach (var batch in batches)
        {
            var refused = await task.PutAsync(batch, ct);
            if (refused.Count > 0) throw new InvalidOperationException($"MySQL stage: {refused.Count} rows refused: {refused[0].Error.Message}");
        }
        var seconds = clock.Elapsed.TotalSeconds;
        return new StageResult("MySQL upsert", "rows", sample.Count, seconds,
            $"MySqlSinkService MySqlSinkTask: {options.InsertMode}, batches of {options.BatchSize} staged by " +
            $"{(options.BatchSize >= options.BulkCopyThreshold ? "bulk copy" : "INSERT")}, guarded set-based apply, every column but {options.ExcludeColumns}")
        { UsersPerSecond = sample.Count / seconds };
    }

    private sealed class NoContext : Shared.Sinks.ISinkContext
    {
        public void ConfirmOwnership(TopicPartition partition, long offset) { }
        public void StopPartitions(IReadOnlyDictionary<TopicPartition, long> firstUnstored) =>
            throw new InvalidOperationException("the MySQL stage stopped its table (see the error logged)");
    }

    /// <summary>
    /// PUTs (S3Extensions.PlainPut, as the sink) of objects of FlushSize JSON lines, the size the sink writes when it is
    /// behind, one PUT in flight per partition as the sink does.
    /// </summary>
    public static async Task<StageResult> S3PutAsync(IAmazonS3 s3, string bucket, int partitions, List<SourceRow> sample, CancellationToken ct)
    {
        var flush = new S3SinkOptions().FlushSize;
        var perObject = Math.Min(flush, sample.Count);
        var bodies = sample.Chunk(perObject).Where(c => c.Length == perObject).Select(c =>
        {
            var body = new MemoryStream();
            foreach (var r in c)
            {
                body.Write(ValueOf(r));
                body.WriteByte((byte)'\n');
            }
            return body.ToArray();
        }).ToList();
        var objects = Math.Max(16, bodies.Count);
        await s3.EnsureBucketAsync(bucket, ct);
        // One warm-up PUT (connection set-up) outside the timing.
        await s3.PutObjectAsync(S3Extensions.PlainPut(bucket, "warmup.json", bodies[0], "application/x-ndjson"), ct);
        long bytes = 0;
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, partitions).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < objects)
            {
                var body = bodies[i % bodies.Count];
                await s3.PutObjectAsync(S3Extensions.PlainPut(bucket, $"stage/object-{i:D6}.json", body, "application/x-ndjson"), ct);
                Interlocked.Add(ref bytes, body.Length);
            }
        }));
        var seconds = clock.Elapsed.TotalSeconds;
        return new StageResult("S3 PUT", "objects", objects, seconds,
            $"S3Extensions.PlainPut, {perObject} records ({bodies[0].Length / 1e6:F1} MB) an object (S3Sink FlushSize {flush}), {partitions} PUTs in flight")
        { UsersPerSecond = objects * (double)perObject / seconds, MegabytesPerSecond = bytes / 1e6 / seconds };
    }

    internal static string Describe(StageResult s) =>
        new StringBuilder().Append(s.Name).Append(": ").Append(s.PerSecond.ToString("N0", System.Globalization.CultureInfo.InvariantCulture))
            .Append(' ').Append(s.Unit).Append("/s").ToString();
}
