using KafkaPipeline.Tests;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.IntegrationTests.Sinks;
using KafkaPipeline.S3SinkService;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Sinks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static KafkaPipeline.IntegrationTests.S3Sink.S3SinkTestKit;

namespace KafkaPipeline.IntegrationTests.S3Sink;

// S3SinkService in-process against the embedded Kafka (one cluster per test) and s3rver (one bucket per test).
public sealed class S3SinkTests
{
    [Fact]
    public async Task Records_of_four_partitions_are_stored_exactly_once_byte_for_byte_without_a_clear_ssn()
    {
        await using var kit = await CreateAsync();
        var expected = kit.ProduceUsers(1, 3000);
        Assert.Equal(SinkTestKit.Partitions, expected.Keys.Select(k => k.Partition).Distinct().Count());

        var sink = await kit.StartSinkAsync(new Dictionary<string, string> { ["FlushSize"] = "250" });
        await kit.WaitForRecordsAsync(expected.Count);
        await sink.StopAsync();

        var objects = await kit.ReadBucketAsync();
        AssertExactlyOnce(objects, expected);
        Assert.All(objects, o => Assert.InRange(o.RecordCount, 1, 250));
        // The ssn is there as its keyed hash (analysts can count and join on it), never in clear.
        var line = Encoding.UTF8.GetString(objects[0].Lines[0]);
        Assert.Contains($"\"ssn\":\"{FieldProtector.Prefix}", line, StringComparison.Ordinal);
        // Committed only what is stored: each partition's committed offset is the end of its last object.
        var committed = kit.Committed();
        foreach (var partition in objects.GroupBy(o => o.Partition))
            Assert.Equal(partition.Max(o => o.EndOffset), committed[partition.Key]);

        // A sink in a new group (no committed offsets at all) resumes at the bucket's end, not at the beginning.
        var more = kit.ProduceUsers(3001, 200);
        var again = await kit.StartSinkAsync(new Dictionary<string, string> { ["FlushSize"] = "77", ["GroupId"] = "s3-sink-new-group" });
        await kit.WaitForRecordsAsync(expected.Count + more.Count);
        await again.StopAsync();
        AssertExactlyOnce(await kit.ReadBucketAsync(), expected.Concat(more).ToDictionary());
    }

    [Fact]
    public async Task An_open_object_is_closed_by_the_rotate_interval_without_further_records()
    {
        await using var kit = await CreateAsync();
        var sink = await kit.StartSinkAsync(new Dictionary<string, string> { ["FlushSize"] = "100000", ["RotateInterval"] = "00:00:01" });

        // Five records and then silence: only a timer can close these objects (Confluent's rotate.interval.ms would not).
        var expected = kit.ProduceUsers(1, 5);
        AssertExactlyOnce(await kit.WaitForRecordsAsync(expected.Count), expected);
        await sink.StopAsync();
    }

    [Fact]
    public async Task Deletes_are_marker_lines_in_offset_order_so_replaying_the_objects_gives_the_table()
    {
        await using var kit = await CreateAsync();
        var t = DateTime.UtcNow;
        var messages = new List<(byte[] Key, UserRecord? User, Headers? Headers)>();
        var table = new Dictionary<long, UserRecord>();
        for (var id = 1L; id <= 200; id++)
        {
            var user = User(id);
            messages.Add((SinkTestKit.Key(id), user, SinkTestKit.Change(ChangeOp.Create, 100, (ulong)id, t)));
            table[id] = user;
            if (id % 3 == 0)
            {
                messages.Add((SinkTestKit.Key(id), null, SinkTestKit.Change(ChangeOp.Delete, 200, (ulong)id, t)));
                table.Remove(id);
            }
            if (id % 9 == 0)
            {
                var back = user with { Name = "back again" };
                messages.Add((SinkTestKit.Key(id), back, SinkTestKit.Change(ChangeOp.Create, 300, (ulong)id, t)));
                table[id] = back;
            }
        }
        var expected = kit.Produce(messages);
        var sink = await kit.StartSinkAsync(new Dictionary<string, string> { ["FlushSize"] = "40" });
        await kit.WaitForRecordsAsync(expected.Count);
        await sink.StopAsync();
        var objects = await kit.ReadBucketAsync();
        AssertExactlyOnce(objects, expected);

        // Replay every partition's objects in offset order: upsert a line, delete on "__deleted": "true".
        var replayed = new Dictionary<long, string>();
        foreach (var o in objects.OrderBy(o => o.Partition).ThenBy(o => o.StartOffset))
        {
            foreach (var l in o.Lines.Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!.AsObject()))
            {
                var id = long.Parse((string)l["__key"]!, System.Globalization.CultureInfo.InvariantCulture);
                if (l["__deleted"]?.GetValue<string>() == "true") replayed.Remove(id);
                else replayed[id] = (string)l["name"]!;
            }
        }
        Assert.Equal(table.Keys.Order(), replayed.Keys.Order());
        Assert.All(table, kv => Assert.Equal(kv.Value.Name, replayed[kv.Key]));
        Assert.Empty(kit.Kafka.ReadDeadLetters(0)); // a tombstone is never dead-lettered
    }

    [Fact]
    public async Task A_crash_between_put_and_commit_leaves_no_record_in_two_objects()
    {
        await using var kit = await CreateAsync();
        var expected = kit.ProduceUsers(1, 3000);

        // First life: size rotation every 100 records; its 3rd to 5th offset commits fail at the broker (the runtime logs
        // them and goes on), and it dies right after its 6th store with objects (stored, offsets not committed), like a
        // kill -9 between PUT and commit. Several stored objects past the committed offset is what breaks a restart from
        // the group offsets: a single one would simply be rewritten under the same key.
        kit.Kafka.Kafka.PushRequestErrors(KafkaApiKey.OffsetCommit, 0, 0,
            KafkaErrorCode.TopicAuthorizationFailed, KafkaErrorCode.TopicAuthorizationFailed, KafkaErrorCode.TopicAuthorizationFailed);
        var crash = new CrashAfterStores(6);
        var first = await kit.StartSinkAsync(new Dictionary<string, string>
        {
            ["FlushSize"] = "100",
            ["RotateInterval"] = "00:10:00",
            ["BatchSize"] = "100",
            // The embedded Kafka's coordinator waits a session timeout before it hands a crashed member's partitions on.
            ["ConsumerOverrides:session.timeout.ms"] = "6000",
        }, services => services.AddSingleton<ISinkTask>(sp => crash.Wrap(sp.GetRequiredService<S3SinkTask>())));
        await crash.Crashed.Task.WaitAsync(SinkTestKit.Patience);
        await first.StopAsync();

        var afterCrash = await kit.ReadBucketAsync();
        var committed = kit.Committed();
        Assert.NotEmpty(afterCrash);
        // The crash really left stored-but-uncommitted objects: a sink resuming from the group offsets would rewrite them.
        Assert.Contains(afterCrash.GroupBy(o => o.Partition), p => p.Any(o => o.EndOffset > committed.GetValueOrDefault(p.Key)));
        Assert.True(afterCrash.Sum(o => o.Lines.Count) < expected.Count);

        // Second life, with a different rotation (as wall-clock rotation would give): objects would overlap if it
        // started anywhere but at the bucket's end offsets.
        var all = expected.Concat(kit.ProduceUsers(3001, 1000)).ToDictionary();
        var second = await kit.StartSinkAsync(new Dictionary<string, string>
        {
            ["FlushSize"] = "70", ["RotateInterval"] = "00:00:01", ["ConsumerOverrides:session.timeout.ms"] = "6000",
        });
        await kit.WaitForRecordsAsync(all.Count);
        await second.StopAsync();
        AssertExactlyOnce(await kit.ReadBucketAsync(), all);
    }

    [Fact]
    public async Task An_object_another_writer_stored_first_is_never_overwritten_and_only_what_lies_beyond_it_is_added()
    {
        await using var kit = await CreateAsync();
        var sink = await kit.StartSinkAsync(new Dictionary<string, string> { ["FlushSize"] = "60", ["RotateInterval"] = "00:10:00", ["BatchSize"] = "10" });
        await kit.Kafka.WaitUntilAsync(() => kit.Logs.Contains(LogLevel.Information, "Opened P_USERS partition 3"), "the partitions to open");

        // Partition 0's first object is being built by the sink; meanwhile another writer (a stalled instance waking
        // up) stores an object under the same key with the first 25 records. The sink must not replace it.
        var first = kit.Produce(Enumerable.Range(1, 400).Select(i => (SinkTestKit.Key(i), (UserRecord?)User(i), (Headers?)null))
            .Where(m => Murmur2Partitioner.Partition(m.Item1, SinkTestKit.Partitions) == 0).Take(40));
        await kit.Kafka.WaitUntilAsync(() => Progress(sink).Consumed >= 40, "40 records taken");
        var foreign = string.Concat(Enumerable.Range(0, 25).Select(o => first[(0, o)] + "\n"));
        var key = ObjectKeys.ObjectKey("topics", SinkTestKit.Topic, 0, 0);
        var put = S3Extensions.PlainPut(kit.Bucket.Name, key, Encoding.UTF8.GetBytes(foreign), "application/x-ndjson");
        put.Metadata.Add(ObjectMetadata.StartOffset, "0");
        put.Metadata.Add(ObjectMetadata.EndOffset, "25");
        put.Metadata.Add(ObjectMetadata.RecordCount, "25");
        await kit.Bucket.Client.PutObjectAsync(put);

        // Up to offset 145: objects of 60 from offset 25 on fill up and are stored (the rotate interval is long).
        var rest = kit.Produce(Enumerable.Range(401, 1000).Select(i => (SinkTestKit.Key(i), (UserRecord?)User(i), (Headers?)null))
            .Where(m => Murmur2Partitioner.Partition(m.Item1, SinkTestKit.Partitions) == 0).Take(105));
        var expected = first.Concat(rest).ToDictionary();
        await kit.WaitForRecordsAsync(145); // offsets 0..24 in the other writer's object, 25..84 and 85..144 in the sink's
        await kit.Kafka.WaitUntilAsync(() => kit.Committed()[0] == 145, "partition 0 committed to its end");
        var objects = await kit.ReadBucketAsync();
        AssertExactlyOnce(objects, expected);
        Assert.Equal(25, objects.Single(o => o.StartOffset == 0).EndOffset); // the other writer's object, untouched
        Assert.True(kit.Logs.Contains(LogLevel.Warning, $"{key} already exists (stored by another writer, ending at offset 25): keeping only offsets from 25 on"), kit.Logs.Text);
    }

    [Fact]
    public async Task A_member_the_group_has_fenced_uploads_nothing_and_the_records_are_stored_once_after_it_rejoins()
    {
        await using var kit = await CreateAsync();
        var sink = await kit.StartSinkAsync(new Dictionary<string, string> { ["FlushSize"] = "50", ["RotateInterval"] = "00:00:02" });
        var before = kit.ProduceUsers(1, 200);
        await kit.WaitForRecordsAsync(1); // objects stored: the generation is known to work
        var storedBefore = (await kit.ReadBucketAsync()).Count;

        // The next commit (the ownership check before an upload) is answered ILLEGAL_GENERATION, as for a member the group
        // has fenced: that upload must not happen; the member rejoins, reopens the partitions from the bucket and goes on.
        const int IllegalGeneration = 22;
        kit.Kafka.Kafka.PushRequestErrors(KafkaApiKey.OffsetCommit, IllegalGeneration);
        var after = kit.ProduceUsers(201, 400);
        var all = before.Concat(after).ToDictionary();
        await kit.WaitForRecordsAsync(all.Count);
        await sink.StopAsync();
        AssertExactlyOnce(await kit.ReadBucketAsync(), all);
        Assert.True(kit.Logs.Contains(LogLevel.Warning, "is not confirmed as this instance's in the group's current generation"), kit.Logs.Text);
        Assert.True((await kit.ReadBucketAsync()).Count > storedBefore);
    }

    [Fact]
    public async Task A_resume_offset_beyond_the_end_of_a_recreated_topic_stops_the_partition_instead_of_resetting_it()
    {
        TestBucket bucket;
        Dictionary<(int Partition, long Offset), string> stored;
        await using (var old = await CreateAsync())
        {
            stored = old.ProduceUsers(1, 400);
            var sink = await old.StartSinkAsync();
            await old.WaitForRecordsAsync(400);
            await sink.StopAsync();
            bucket = new TestBucket(TestServers.CreateS3Client(), old.Bucket.Name);
        }

        // The topic is recreated (a new cluster): 20 records, far below the bucket's end offsets.
        await using var kit = await CreateAsync(bucket: bucket);
        kit.ProduceUsers(1001, 20);
        var app = await kit.StartSinkAsync();
        await kit.Kafka.WaitUntilAsync(() => Progress(app).StoppedPartitions == SinkTestKit.Partitions, "every partition stopped");
        Assert.True(kit.Logs.Contains(LogLevel.Error, "beyond its end"), kit.Logs.Text);
        AssertExactlyOnce(await kit.ReadBucketAsync(), stored); // nothing new, nothing overwritten
        Assert.All(kit.Committed().Values, c => Assert.Equal(0, c));
    }

    [Fact]
    public async Task Each_traced_record_gets_an_s3_put_span_in_its_own_trace_and_latency_is_recorded()
    {
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
            if (instrument.Name == "kafkapipeline.batch.size" && HasTag(tags, "service", "s3-sink")) batchSizes.Enqueue(value);
        });
        meters.Start();

        await using var kit = await CreateAsync();
        var parents = Enumerable.Range(1, 8).ToDictionary(id => (long)id, _ => new ActivityContext(
            ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded, isRemote: true));
        var expected = kit.ProduceUsers(1, 8, u =>
        {
            var headers = new Headers();
            PipelineTelemetry.Inject($"00-{parents[u.Id].TraceId}-{parents[u.Id].SpanId}-01", headers);
            return headers;
        });

        var sink = await kit.StartSinkAsync();
        await kit.WaitForRecordsAsync(expected.Count);
        await sink.StopAsync();
        var objects = await kit.ReadBucketAsync();
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
            Assert.Contains(holder.Lines, l => LakeLineIds.Of(l) == id);
        }
        Assert.True(latencies.Count >= expected.Count, $"{latencies.Count} latency measurements");
        Assert.All(latencies, ms => Assert.InRange(ms, 0, TimeSpan.FromMinutes(10).TotalMilliseconds));
        Assert.True(batchSizes.Sum() >= expected.Count);
    }

    [Fact]
    public async Task Without_conditional_writes_the_store_is_asked_before_each_put_and_an_existing_key_is_refused()
    {
        using var bucket = await TestServers.CreateS3BucketAsync("s3once");
        var objects = new WriteOnceObjects(bucket.Client, bucket.Name);
        await objects.ProbeAsync(CancellationToken.None);
        Assert.False(objects.ConditionalWrites); // s3rver ignores If-None-Match

        var put = S3Extensions.PlainPut(bucket.Name, "topics/T/partition=0/T+0+0000000000.json", "{\"a\":1}\n"u8.ToArray(), "application/x-ndjson");
        put.Metadata.Add(ObjectMetadata.EndOffset, "1");
        await objects.CheckFreeAsync(put.Key, CancellationToken.None);
        await objects.PutAsync(put, CancellationToken.None);
        var e = await Assert.ThrowsAsync<ObjectExistsException>(() => objects.CheckFreeAsync(put.Key, CancellationToken.None));
        Assert.Equal(1, e.EndOffset);
        Assert.Empty((await bucket.Client.ListObjectsV2Async(new() { BucketName = bucket.Name, Prefix = "_kafkapipeline/" })).S3Objects ?? []);
    }

    private static bool HasTag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key, string value)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == key && Equals(tag.Value, value)) return true;
        }
        return false;
    }

    /// <summary>Lets the n-th store that wrote objects happen, then fails for good before the runtime can commit: the sink dies there.</summary>
    private sealed class CrashAfterStores(int n)
    {
        private readonly int _crashAt = n;
        private int _stores;
        public TaskCompletionSource Crashed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ISinkTask Wrap(S3SinkTask inner) => new Crashing(inner, this);

        private sealed class Crashing(S3SinkTask inner, CrashAfterStores owner) : ISinkTask
        {
            public string Target => inner.Target;
            public string SpanName => inner.SpanName;
            public DateTimeOffset? NextFlushAt => inner.NextFlushAt;
            public Task StartAsync(ISinkContext context, CancellationToken ct) => inner.StartAsync(context, ct);
            public Task<IReadOnlyDictionary<TopicPartition, long?>> OpenAsync(IReadOnlyDictionary<TopicPartition, long?> committed, CancellationToken ct) => inner.OpenAsync(committed, ct);
            public Task<IReadOnlyList<ErrantRecord>> PutAsync(IReadOnlyList<SinkRecord> records, CancellationToken ct) => inner.PutAsync(records, ct);
            public void Close(IReadOnlyCollection<TopicPartition> partitions) => inner.Close(partitions);
            public void Describe(Activity span, TopicPartition partition, long offset) => inner.Describe(span, partition, offset);

            public async Task<IReadOnlyDictionary<TopicPartition, long>> PreCommitAsync(IReadOnlyDictionary<TopicPartition, long> putOffsets, bool force, CancellationToken ct)
            {
                var before = inner.NextFlushAt;
                var durable = await inner.PreCommitAsync(putOffsets, force, ct);
                if (before is not null && before <= DateTimeOffset.UtcNow && Interlocked.Increment(ref owner._stores) >= owner._crashAt)
                {
                    owner.Crashed.TrySetResult();
                    throw new NotRetriableException("simulated crash after storing objects, before the commit");
                }
                return durable;
            }
        }
    }
}
