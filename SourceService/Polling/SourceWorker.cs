using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Postgres;
using Microsoft.Extensions.Options;
using Npgsql;

namespace KafkaPipeline.SourceService;

/// <summary>
/// The polling modes (Source:Mode Incrementing or TimestampIncrementing; the default Cdc mode is <see cref="Cdc.CdcWorker"/>).
/// Polls PostgreSQL and publishes each row to Kafka, keyed by id, to the partition murmur2(key) picks.
/// Order of work per batch: read rows after the saved position, produce them all, wait for every ack, then save the
/// new position. After a crash the saved position may lag what Kafka holds; <see cref="TopicTail"/> tells which of the
/// re-read rows are already there, so none is sent twice and none is missed.
/// </summary>
public sealed class SourceWorker(
    NpgsqlDataSource db,
    IOptions<SourceOptions> options,
    SourceKafka kafka,
    IHostApplicationLifetime lifetime,
    ILogger<SourceWorker> logger) : BackgroundService
{
    private static readonly KeyValuePair<string, object?> s_service = new("service", "source");
    private readonly SourceOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var ct = stoppingToken;
        using var types = new PgTypeCatalog(db);
        var reader = new UsersReader(db, new TableRows(types, _options.TraceParentColumn, (table, column, what) =>
            logger.LogWarning("{Table}.{Column}: a value ({What}) has no representation in the event's field type; sent as null", table, column, what)),
            _options);
        var offsets = new OffsetStore(db, _options);
        try
        {
            await StartupRetry.WaitForAsync("PostgreSQL (ConnectionStrings:usersdb)", async c =>
            {
                await UsersSchema.EnsureAsync(db, _options.Table, logger, c);
                await offsets.EnsureAsync(c);
            }, logger, ct);
        }
        catch (NotRetriableException e)
        {
            e.StopService(lifetime, logger);
            return;
        }

        var tail = await StartupRetry.WaitForAsync($"Kafka topic {_options.Topic} (ConnectionStrings:kafka)",
            c => Task.Run(() => TopicTail.Read(kafka.Clients, _options.Topic, reader.PositionOf, TimeSpan.FromSeconds(10)), c),
            logger, ct);

        var position = await offsets.LoadAsync(ct) ?? SourcePosition.Start;
        if (tail.IsEmpty && position != SourcePosition.Start)
        {
            // An empty topic with a saved position means the topic was recreated (e.g. the in-memory broker restarted).
            logger.LogWarning("Topic {Topic} is empty but the saved position is {Position}; publishing the table again from the start",
                _options.Topic, position);
            position = SourcePosition.Start;
        }
        var replayUpTo = tail.LastPositions.Values.DefaultIfEmpty(SourcePosition.Start).Max();
        logger.LogInformation("Source {Mode} on {Table} -> {Topic} ({Partitions} partitions) from position {Position}; already in Kafka up to {Tail}",
            _options.Mode, _options.Table, _options.Topic, tail.PartitionCount, position, replayUpTo);

        var summary = Stopwatch.StartNew();
        long published = 0, skipped = 0, lastPublished = 0;
        Task<IReadOnlyList<SourceRow>>? nextBatch = null;
        while (!ct.IsCancellationRequested)
        {
            var rows = await (nextBatch ?? RetryAsync("read from PostgreSQL", c => reader.ReadAfterAsync(position, c), ct));
            nextBatch = null;
            PipelineTelemetry.RecordsIn.Add(rows.Count, s_service);
            if (rows.Count > 0)
            {
                var last = rows[^1].Position;
                // A full batch means more is waiting: read the next one while Kafka acknowledges this one. Reading
                // ahead changes nothing durable; the position is still saved only after the acks.
                if (rows.Count == _options.BatchSize)
                    nextBatch = RetryAsync("read from PostgreSQL", c => reader.ReadAfterAsync(last, c), ct);
                var toSend = rows;
                if (position < replayUpTo)
                {
                    toSend = rows.Where(r => !AlreadyDelivered(r, tail)).ToList();
                    skipped += rows.Count - toSend.Count;
                }
                await kafka.PublishAsync(_options.Topic, tail.PartitionCount, toSend, ct);
                position = last;
                await RetryAsync("save the source position", c => offsets.SaveAsync(position, c), ct);
                published += toSend.Count;
            }

            if (summary.Elapsed >= TimeSpan.FromSeconds(10))
            {
                logger.LogInformation("Published {Published} rows to {Topic} ({Rate:F0}/s), skipped {Skipped} already in Kafka, position {Position}",
                    published, _options.Topic, (published - lastPublished) / summary.Elapsed.TotalSeconds, skipped, position);
                lastPublished = published;
                summary.Restart();
            }
            // A full batch means more is waiting: poll again at once.
            if (rows.Count < _options.BatchSize) await Task.Delay(_options.PollInterval, ct);
        }
    }

    private static bool AlreadyDelivered(SourceRow row, TopicTail tail) =>
        tail.LastPositions.TryGetValue(Murmur2Partitioner.Partition(SourceKafka.KeyOf(row.Row), tail.PartitionCount), out var last)
        && row.Position <= last;

    private async Task<T> RetryAsync<T>(string what, Func<CancellationToken, Task<T>> action, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        while (true)
        {
            try
            {
                return await action(ct);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException && !ct.IsCancellationRequested)
            {
                PipelineTelemetry.Errors.Add(1, s_service);
                logger.LogWarning("Could not {What}, retrying in {Delay} ms: {Error}", what, (int)delay.TotalMilliseconds, e.Message);
                await Task.Delay(delay, ct);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
            }
        }
    }

    private Task RetryAsync(string what, Func<CancellationToken, Task> action, CancellationToken ct) =>
        RetryAsync<bool>(what, async c => { await action(c); return true; }, ct);
}

/// <summary>The source's producer: explicit partitions, W3C trace context in headers, wait for every ack.</summary>
public sealed class SourceKafka(KafkaClients kafka, IReadOnlyDictionary<string, string>? overrides = null) : IDisposable
{
    private static readonly KeyValuePair<string, object?> s_service = new("service", "source");
    // Delivery reports need only the outcome: with the default ("all") every message in flight keeps its key, value and
    // headers reachable until acknowledged, which costs garbage collections during a snapshot.
    // Gapless: should Kafka refuse one message, no later message of its partition is written either (the producer fails
    // instead), so what a partition holds stays a prefix of what was sent to it, which the restart dedupe relies on.
    private readonly IProducer<byte[], byte[]?> _producer =
        kafka.Producer<byte[], byte[]?>("source-service", c =>
        {
            c.DeliveryReportFields = "status";
            c.EnableGaplessGuarantee = true;
            foreach (var (key, value) in overrides ?? new Dictionary<string, string>()) c.Set(key, value);
        }).Build();

    /// <summary>The cluster's clients, for the readers of what the topic already holds.</summary>
    public KafkaClients Clients { get; } = kafka;

    /// <summary>The message key of a row (<see cref="EventKeys"/>).</summary>
    public static byte[] KeyOf(DecodedRow row) => EventKeys.Key(row.Table.Schema, row.Values)
        ?? throw new InvalidOperationException($"{row.Table.Table} has no key: it needs a primary key or a replica identity index");

    /// <summary>
    /// The "source publish" span of one user, continuing the trace its writer started (or a new one when the row has
    /// none), with its context in <paramref name="headers"/>. Not left as Activity.Current: the caller stops it on the ack.
    /// </summary>
    public static Activity? StartPublish(string topic, byte[] key, string? traceParent, Headers headers)
    {
        var activity = PipelineTelemetry.Source.StartActivity("source publish", ActivityKind.Producer, PipelineTelemetry.ParseTraceParent(traceParent));
        Activity.Current = null;
        activity?.SetTag("messaging.system", "kafka");
        activity?.SetTag("messaging.destination.name", topic);
        if (activity is not null) activity.SetTag("messaging.kafka.message.key", Encoding.UTF8.GetString(key));
        if (activity is not null) PipelineTelemetry.Inject(activity, headers);
        else PipelineTelemetry.Inject(traceParent, headers);
        return activity;
    }

    public async Task PublishAsync(string topic, int partitionCount, IReadOnlyList<SourceRow> rows, CancellationToken ct)
    {
        if (rows.Count == 0) return;
        var pending = rows.Count;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Exception? failure = null;
        var activities = new Activity?[rows.Count];
        using var writer = new ChangeEventWriter();
        var headerWriter = new ChangeHeaderWriter();
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i].Row;
            var headers = new Headers();
            var key = KeyOf(row);
            activities[i] = StartPublish(topic, key, row.TraceParent, headers);
            // No LSN: the sinks order a polled row's versions by its updated_at, carried as the commit time.
            headerWriter.Write(headers, new ChangeMetadata(ChangeOp.Read, SourceVersion.None, rows[i].Position.UpdatedAt, Table: row.Table.Table));

            var partition = new TopicPartition(topic, Murmur2Partitioner.Partition(key, partitionCount));
            var message = new Message<byte[], byte[]?> { Key = key, Value = writer.Value(row.Table.Schema, row.Values), Headers = headers };
            Produce(partition, message, report =>
            {
                if (report.Error.IsError) failure ??= new KafkaException(report.Error);
                if (Interlocked.Decrement(ref pending) == 0) done.TrySetResult();
            });
        }
        await done.Task.WaitAsync(ct);
        foreach (var a in activities) a?.Stop();
        // The producer is idempotent with an unlimited delivery timeout: an error here is fatal, never a retry case.
        if (failure is not null) throw new InvalidOperationException($"Kafka did not accept the batch: {failure.Message}", failure);
        PipelineTelemetry.RecordsOut.Add(rows.Count, s_service);
        PipelineTelemetry.BatchSize.Record(rows.Count, s_service);
    }

    /// <summary>
    /// Hands one message to the producer, waiting while its local queue is full; <paramref name="delivered"/> runs on the
    /// producer's thread once Kafka acknowledged it (or it failed for good).
    /// </summary>
    public void Produce(TopicPartition partition, Message<byte[], byte[]?> message, Action<DeliveryReport<byte[], byte[]?>> delivered)
    {
        while (true)
        {
            try
            {
                _producer.Produce(partition, message, delivered);
                return;
            }
            catch (ProduceException<byte[], byte[]?> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                _producer.Poll(TimeSpan.FromMilliseconds(50)); // the local queue is full: let deliveries drain
            }
        }
    }

    public void Dispose()
    {
        _producer.Flush(TimeSpan.FromSeconds(10));
        _producer.Dispose();
    }
}
