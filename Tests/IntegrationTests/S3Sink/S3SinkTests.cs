using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Confluent.Kafka;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.S3SinkService;
using KafkaPipeline.Shared;
using static KafkaPipeline.IntegrationTests.S3Sink.S3SinkTestKit;

namespace KafkaPipeline.IntegrationTests.S3Sink;

// S3SinkService in-process against the embedded Kafka (one cluster per test) and s3rver (one bucket per test).
public sealed class S3SinkTests
{
    [Fact]
    public async Task Records_of_four_partitions_are_stored_exactly_once_byte_for_byte()
    {
        using var kafka = EmbeddedKafkaCluster.Start();
        kafka.CreateTopic(Topic, Partitions);
        using var bucket = await TestServers.CreateS3BucketAsync("s3sink");
        using var producer = Producer(kafka.BootstrapServers);
        var expected = ProduceUsers(producer, 1, 3000);
        Assert.Equal(Partitions, expected.Keys.Select(k => k.Partition).Distinct().Count());

        await using (var sink = await StartSinkAsync(kafka.BootstrapServers, bucket, new Dictionary<string, string> { ["FlushSize"] = "250" }))
        {
            await WaitForRecordsAsync(bucket, expected.Count);
            await sink.StopAsync();
        }

        var objects = await ReadBucketAsync(bucket);
        AssertExactlyOnce(objects, expected);
        Assert.All(objects, o => Assert.InRange(o.RecordCount, 1, 250));
        // Committed only what is stored: each partition's committed offset is the end of its last object.
        var committed = Committed(kafka.BootstrapServers, "s3-sink");
        foreach (var partition in objects.GroupBy(o => o.Partition))
            Assert.Equal(partition.Max(o => o.EndOffset), committed[partition.Key]);

        // A sink in a new group (no committed offsets at all) resumes at the bucket's end, not at the beginning.
        var more = ProduceUsers(producer, 3001, 200);
        await using (var sink = await StartSinkAsync(kafka.BootstrapServers, bucket, new Dictionary<string, string>
                     {
                         ["FlushSize"] = "77",
                         ["GroupId"] = "s3-sink-new-group",
                     }))
        {
            await WaitForRecordsAsync(bucket, expected.Count + more.Count);
            await sink.StopAsync();
        }
        AssertExactlyOnce(await ReadBucketAsync(bucket), expected.Concat(more).ToDictionary());
    }

    [Fact]
    public async Task An_open_object_is_closed_by_the_rotate_interval_without_further_records()
    {
        using var kafka = EmbeddedKafkaCluster.Start();
        kafka.CreateTopic(Topic, Partitions);
        using var bucket = await TestServers.CreateS3BucketAsync("s3sink");
        await using var sink = await StartSinkAsync(kafka.BootstrapServers, bucket, new Dictionary<string, string>
        {
            ["FlushSize"] = "100000",
            ["RotateInterval"] = "00:00:01",
        });
        using var producer = Producer(kafka.BootstrapServers);

        // Five records and then silence: only a timer can close these objects (Confluent's rotate.interval.ms would not).
        var expected = ProduceUsers(producer, 1, 5);
        var objects = await WaitForRecordsAsync(bucket, expected.Count);

        AssertExactlyOnce(objects, expected);
        await sink.StopAsync();
    }

    [Fact]
    public async Task A_crash_between_put_and_commit_leaves_no_record_in_two_objects()
    {
        using var kafka = EmbeddedKafkaCluster.Start();
        kafka.CreateTopic(Topic, Partitions);
        using var bucket = await TestServers.CreateS3BucketAsync("s3sink");
        using var producer = Producer(kafka.BootstrapServers);
        var expected = ProduceUsers(producer, 1, 3000);

        // First life: size rotation every 100 records; its 3rd to 5th offset commits fail at the broker (the sink
        // logs them and goes on: commits are advisory), and it dies right after its 6th successful flush (objects
        // stored, offsets not committed), like a kill -9 between PUT and commit. Open objects are lost with it.
        // Several stored objects past the committed offset is what breaks a restart from the group offsets: a single
        // one would simply be overwritten under the same key.
        kafka.PushRequestErrors(KafkaApiKey.OffsetCommit, 0, 0,
            TopicAuthorizationFailed, TopicAuthorizationFailed, TopicAuthorizationFailed);
        var crash = new CrashAfterStores(6);
        var first = await StartSinkAsync(kafka.BootstrapServers, bucket, new Dictionary<string, string>
        {
            ["FlushSize"] = "100",
            ["RotateInterval"] = "00:10:00",
            // The embedded Kafka's coordinator waits a session timeout before it hands a crashed member's partitions on.
            ["ConsumerOverrides:session.timeout.ms"] = "6000",
        }, crash);
        await crash.Crashed.Task.WaitAsync(Patience);
        await first.DisposeAsync();

        var afterCrash = await ReadBucketAsync(bucket);
        var committed = Committed(kafka.BootstrapServers, "s3-sink");
        Assert.NotEmpty(afterCrash);
        // The crash really left stored-but-uncommitted objects: a sink resuming from the group offsets would rewrite them.
        Assert.Contains(afterCrash.GroupBy(o => o.Partition),
            p => p.Count(o => o.StartOffset >= committed.GetValueOrDefault(p.Key)) >= 2);
        Assert.True(afterCrash.Sum(o => o.Lines.Count) < expected.Count);

        // Second life, with a different rotation (as wall-clock rotation would give): objects would overlap if it
        // started anywhere but at the bucket's end offsets.
        var more = ProduceUsers(producer, 3001, 1000);
        var all = expected.Concat(more).ToDictionary();
        await using (var second = await StartSinkAsync(kafka.BootstrapServers, bucket, new Dictionary<string, string>
                     {
                         ["FlushSize"] = "70",
                         ["RotateInterval"] = "00:00:01",
                         ["ConsumerOverrides:session.timeout.ms"] = "6000",
                     }))
        {
            await WaitForRecordsAsync(bucket, all.Count);
            await second.StopAsync();
        }

        AssertExactlyOnce(await ReadBucketAsync(bucket), all);
    }

    [Fact]
    public async Task Malformed_records_go_to_the_dead_letter_topic_and_the_rest_flows()
    {
        using var kafka = EmbeddedKafkaCluster.Start();
        kafka.CreateTopic(Topic, Partitions);
        kafka.CreateTopic(TopicNames.DeadLetter(Topic), 1);
        using var bucket = await TestServers.CreateS3BucketAsync("s3sink");
        using var producer = Producer(kafka.BootstrapServers);

        var messages = Enumerable.Range(1, 60).Select(id => (Key: id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Value: UserRecordJson.Serialize(User(id)))).ToList();
        messages.Insert(20, ("bad-json", "{ not json"u8.ToArray()));
        messages.Insert(40, ("bad-id", """{"id":-5,"updated_at":"2024-01-01T00:00:00Z"}"""u8.ToArray()));
        var produced = Produce(producer, messages);
        var badOffsets = produced.Where(kv => kv.Value.Length < 60).Select(kv => kv.Key).ToHashSet();
        Assert.Equal(2, badOffsets.Count);

        await using var sink = await StartSinkAsync(kafka.BootstrapServers, bucket);
        var objects = await WaitForRecordsAsync(bucket, 60);

        // Every good record once, by id; no bad one.
        var ids = objects.SelectMany(o => o.Lines).Select(l => UserRecordJson.Deserialize(l).Id).Order().ToList();
        Assert.Equal(Enumerable.Range(1, 60).Select(i => (long)i), ids);
        var dead = ReadDeadLetters(kafka.BootstrapServers, 2);
        Assert.Equal(badOffsets, dead.Select(d => (int.Parse(Header(d, PipelineHeaders.DlqPartition), System.Globalization.CultureInfo.InvariantCulture),
            long.Parse(Header(d, PipelineHeaders.DlqOffset), System.Globalization.CultureInfo.InvariantCulture))).ToHashSet());
        Assert.All(dead, d =>
        {
            Assert.Equal(Topic, Header(d, PipelineHeaders.DlqTopic));
            Assert.Equal("deserialize", Header(d, PipelineHeaders.DlqStage));
            Assert.Equal(S3SinkWorker.ServiceName, Header(d, PipelineHeaders.DlqService));
            Assert.Equal(nameof(InvalidRecordException), Header(d, PipelineHeaders.DlqErrorType));
            Assert.False(string.IsNullOrWhiteSpace(Header(d, PipelineHeaders.DlqError)));
        });
        Assert.Contains(dead, d => Header(d, PipelineHeaders.DlqError).Contains("'id'", StringComparison.Ordinal));

        // After a stop, the stored end offsets (or, for an object of only bad records, the committed offset) are past
        // the dead-lettered records, so a restart does not read them again.
        await sink.StopAsync();
        var final = await ReadBucketAsync(bucket);
        var committed = Committed(kafka.BootstrapServers, "s3-sink");
        foreach (var (partition, offset) in badOffsets)
        {
            var bucketEnd = final.Where(o => o.Partition == partition).Select(o => o.EndOffset).DefaultIfEmpty(0).Max();
            Assert.True(Math.Max(bucketEnd, committed.GetValueOrDefault(partition)) > offset,
                $"partition {partition}: offset {offset} not covered (bucket end {bucketEnd}, committed {committed.GetValueOrDefault(partition)})");
        }
    }

    [Fact]
    public async Task Each_traced_record_gets_an_s3_put_span_in_its_own_trace_and_latency_is_recorded()
    {
        using var kafka = EmbeddedKafkaCluster.Start();
        kafka.CreateTopic(Topic, Partitions);
        using var bucket = await TestServers.CreateS3BucketAsync("s3sink");
        using var producer = Producer(kafka.BootstrapServers);

        var spans = new ConcurrentQueue<Activity>();
        using var activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == PipelineTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { if (a.OperationName == "s3 put") spans.Enqueue(a); },
        };
        ActivitySource.AddActivityListener(activities);
        var latencies = new ConcurrentQueue<double>();
        var batchSizes = new ConcurrentQueue<long>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == PipelineTelemetry.Name) l.EnableMeasurementEvents(instrument);
            },
        };
        meters.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "kafkapipeline.e2e.latency" && HasTag(tags, "sink", "s3")) latencies.Enqueue(value);
        });
        meters.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "kafkapipeline.batch.size" && HasTag(tags, "service", S3SinkWorker.ServiceName)) batchSizes.Enqueue(value);
        });
        meters.Start();

        var parents = Enumerable.Range(1, 8).ToDictionary(id => (long)id, _ => new ActivityContext(
            ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded, isRemote: true));
        var expected = Produce(producer, parents.Select(kv =>
        {
            var headers = new Headers();
            PipelineTelemetry.Inject($"00-{kv.Value.TraceId}-{kv.Value.SpanId}-01", headers);
            return (kv.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), UserRecordJson.Serialize(User(kv.Key)), (Headers?)headers);
        }));

        await using (var sink = await StartSinkAsync(kafka.BootstrapServers, bucket))
        {
            await WaitForRecordsAsync(bucket, expected.Count);
            await sink.StopAsync();
        }
        var objects = await ReadBucketAsync(bucket);
        AssertExactlyOnce(objects, expected);

        foreach (var (id, parent) in parents)
        {
            var span = Assert.Single(spans, s => s.TraceId == parent.TraceId);
            Assert.Equal(parent.SpanId, span.ParentSpanId);
            Assert.Equal(ActivityKind.Client, span.Kind);
            Assert.NotEqual(ActivityStatusCode.Error, span.Status);
            // The span names the object that holds this user.
            var key = Assert.IsType<string>(span.GetTagItem("aws.s3.key"));
            var holder = Assert.Single(objects, o => o.Key == key);
            Assert.Contains(holder.Lines, l => UserRecordJson.Deserialize(l).Id == id);
        }
        Assert.True(latencies.Count >= expected.Count, $"{latencies.Count} latency measurements");
        Assert.All(latencies, ms => Assert.InRange(ms, 0, TimeSpan.FromMinutes(10).TotalMilliseconds));
        Assert.True(batchSizes.Sum() >= expected.Count);
    }

    private static bool HasTag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key, string value)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == key && Equals(tag.Value, value)) return true;
        }
        return false;
    }

    /// <summary>Kafka protocol error 29: not retriable, so the commit fails without a rebalance.</summary>
    private const int TopicAuthorizationFailed = 29;

    private static string Header(ConsumeResult<byte[]?, byte[]?> record, string key) =>
        PipelineHeaders.GetString(record.Message.Headers, key) ?? throw new InvalidOperationException($"header {key} missing");

    private static List<ConsumeResult<byte[]?, byte[]?>> ReadDeadLetters(string bootstrap, int expected)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = "dlq-reader",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Assign(new TopicPartitionOffset(TopicNames.DeadLetter(Topic), 0, Offset.Beginning));
        var records = new List<ConsumeResult<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow + Patience;
        while (records.Count < expected && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message: not null } r) records.Add(r);
        }
        Assert.Equal(expected, records.Count);
        return records;
    }

    /// <summary>Throws after the n-th successful store, before the sink commits: the sink's loop dies there.</summary>
    private sealed class CrashAfterStores(int n) : IS3SinkHooks
    {
        private int _stores;
        public TaskCompletionSource Crashed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task AfterStoredAsync(IReadOnlyList<string> keys, CancellationToken ct)
        {
            if (Interlocked.Increment(ref _stores) < n) return Task.CompletedTask;
            Crashed.TrySetResult();
            throw new SimulatedCrashException($"simulated crash after storing {string.Join(", ", keys)}");
        }
    }

    private sealed class SimulatedCrashException(string message) : Exception(message);
}
