using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.SourceService;

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

    private volatile bool _failed;

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
                _producer.Produce(partition, message, report =>
                {
                    if (report.Error.IsError) _failed = true;
                    delivered(report);
                });
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
        // After a failed delivery, no flush: the gapless guarantee does not cover a message that timed out (the source's
        // finite message.timeout.ms), and a later message delivered after it would leave a gap that the next session's
        // dedupe (by what each partition holds) skips over. What is still queued is dropped with the producer; the next
        // session sends everything after the last position Kafka acknowledged.
        if (!_failed) _producer.Flush(TimeSpan.FromSeconds(10));
        _producer.Dispose();
    }
}
