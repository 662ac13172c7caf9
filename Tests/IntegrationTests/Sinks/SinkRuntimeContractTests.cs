using KafkaPipeline.Tests;
using System.Diagnostics.Metrics;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Sinks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KafkaPipeline.IntegrationTests.Sinks;

/// <summary>
/// The sink runtime's contract, against a fake task on the embedded Kafka: what it hands the task, what it commits,
/// how it waits, dead-letters, rebalances and stops. The MySQL and S3 kits test only their task on top of this.
/// </summary>
public sealed class SinkRuntimeContractTests
{
    private const string Group = "fake-sink";

    private static UserRecord User(long id) => new()
    {
        Id = id, Name = $"Zoë {id} 😀", Mail = $"u{id}@example.com", Ssn = $"{id % 1000:D3}-12-3456",
        Birthdate = new DateOnly(1990, 1, 1), CreatedAt = DateTime.UtcNow, UpdatedAt = DateTime.UtcNow,
    };

    private static IEnumerable<UserRecord> Users(int count, long first = 1) => Enumerable.Range(0, count).Select(i => User(first + i));

    private static async Task<(IHost Host, FakeSinkTask Task)> StartAsync(SinkTestKit kit, FakeStore store,
        IDictionary<string, string?>? settings = null, Action<FakeSinkTask>? configure = null)
    {
        var host = FakeSinkTask.Host(kit, store, settings);
        var task = host.Services.GetRequiredService<FakeSinkTask>();
        configure?.Invoke(task);
        await kit.StartAsync(host);
        return (host, task);
    }

    private static SinkProgress Progress(IHost host) => host.Services.GetRequiredService<SinkProgress>();

    private static void AssertStoredOnce(FakeStore store, IEnumerable<DeliveryReport<byte[]?, byte[]?>> reports)
    {
        var expected = reports.Select(r => (r.Partition.Value, r.Offset.Value)).ToHashSet();
        var missing = expected.Where(e => !store.Stored.ContainsKey(e)).Take(5).ToList();
        Assert.True(missing.Count == 0, $"{expected.Count(e => !store.Stored.ContainsKey(e))} records never stored, e.g. {string.Join(", ", missing)}");
        Assert.True(store.Duplicates == 0, $"{store.Duplicates} records stored twice, e.g. {string.Join(", ", store.Stored.Where(s => s.Value > 1).Take(5).Select(s => s.Key))}");
    }

    [Fact]
    public async Task Every_record_is_handed_over_once_in_batches_of_at_most_BatchSize_and_committed_when_durable()
    {
        await using var kit = new SinkTestKit();
        var store = new FakeStore();
        var reports = kit.ProduceUsers(Users(2000));
        var (host, task) = await StartAsync(kit, store, new Dictionary<string, string?> { ["FakeSink:BatchSize"] = "300" });

        await kit.WaitForCommittedToEndAsync(Group);
        AssertStoredOnce(store, reports);
        Assert.All(task.PutSizes, size => Assert.InRange(size, 1, 300));
        Assert.Equal(2000, Progress(host).Written);
        // In offset order within each partition.
        foreach (var attempt in task.Attempts)
            foreach (var partition in attempt.GroupBy(a => a.Item1))
                Assert.Equal(partition.Select(a => a.Item2).Order(), partition.Select(a => a.Item2));
        await kit.WaitUntilAsync(() => Progress(host).Lag == 0, "lag 0");
        await kit.WaitUntilAsync(() => kit.Logs.Contains(LogLevel.Information, "fake-sink: "), "a summary line");
    }

    [Fact]
    public async Task A_record_is_written_as_soon_as_nothing_more_waits_not_when_a_batch_is_full()
    {
        await using var kit = new SinkTestKit();
        var store = new FakeStore();
        var (_, task) = await StartAsync(kit, store, new Dictionary<string, string?> { ["FakeSink:BatchSize"] = "5000" });
        await kit.WaitUntilAsync(() => !task.Opened.IsEmpty, "partitions opened");

        var one = kit.ProduceUsers(Users(1));
        await kit.WaitUntilAsync(() => store.Stored.Count == 1, "the single record stored");
        Assert.Equal(1, Assert.Single(task.PutSizes));
        await kit.WaitForCommittedToEndAsync(Group);
        AssertStoredOnce(store, one);
    }

    [Fact]
    public async Task Offsets_are_committed_only_as_far_as_the_task_reports_them_durable()
    {
        await using var kit = new SinkTestKit();
        var store = new FakeStore();
        var reports = kit.ProduceUsers(Users(500));
        var (_, task) = await StartAsync(kit, store, configure: t => t.Holding = true);

        // Everything is put, and preCommit asked, but the task holds it all back: nothing may be committed.
        await kit.WaitUntilAsync(() => store.Stored.Count == 500 && task.PreCommits >= 1, "all records put");
        Assert.All(kit.Committed(Group).Values, c => Assert.Equal(0, c));

        task.Holding = false; // now durable: the runtime asks again (NextFlushAt) and commits
        await kit.WaitForCommittedToEndAsync(Group);
        AssertStoredOnce(store, reports);
    }

    [Fact]
    public async Task While_the_target_is_down_the_same_records_are_retried_with_partitions_paused_and_nothing_is_committed()
    {
        const int batch = 50;
        await using var kit = new SinkTestKit();
        var store = new FakeStore();
        var (host, task) = await StartAsync(kit, store, new Dictionary<string, string?> { ["FakeSink:BatchSize"] = $"{batch}" },
            t => t.Failing = true);
        var reports = kit.ProduceUsers(Users(1000));

        await kit.WaitUntilAsync(() => kit.Logs.Count(LogLevel.Warning, "Waiting for the fake store: writing") >= 4, "four failed attempts");
        // One batch is retried, the next one waits; no more is taken from Kafka, nothing is committed.
        Assert.InRange(Progress(host).Consumed, 1, 2 * batch);
        Assert.All(kit.Committed(Group).Values, c => Assert.Equal(0, c));
        var attempts = task.Attempts.ToList();
        Assert.All(attempts, a => Assert.Equal(attempts[0], a));

        task.Failing = false;
        await kit.WaitForCommittedToEndAsync(Group);
        AssertStoredOnce(store, reports);
        Assert.True(kit.Logs.Contains(LogLevel.Information, "the fake store is back"), kit.Logs.Text);
    }

    [Fact]
    public async Task An_error_retrying_cannot_fix_stops_the_sink_with_its_message_and_commits_nothing()
    {
        await using var kit = new SinkTestKit();
        var store = new FakeStore();
        kit.ProduceUsers(Users(100));
        var (host, _) = await StartAsync(kit, store, configure: t => t.Fatal = true);

        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        await kit.WaitUntilAsync(() => lifetime.ApplicationStopping.IsCancellationRequested, "the host to stop");
        Assert.True(kit.Logs.Contains(LogLevel.Critical, "fake-sink stopped: the fake store refuses to work (a fatal error)"), kit.Logs.Text);
        Assert.Equal(0, kit.Logs.Count(LogLevel.Warning, "Waiting for the fake store")); // a fatal error is not retried
        Assert.All(kit.Committed(Group).Values, c => Assert.Equal(0, c));
        Assert.Empty(store.Stored);
    }

    [Fact]
    public async Task Refused_and_unreadable_records_are_dead_lettered_with_headers_and_no_clear_private_data_and_tombstones_never_are()
    {
        await using var kit = new SinkTestKit();
        var store = new FakeStore();
        var messages = new List<(byte[] Key, byte[]? Value, Headers? Headers)>();
        messages.AddRange(Users(100).Select(u => (SinkTestKit.Key(u.Id), (byte[]?)UsersEvents.Value(u), (Headers?)null)));
        messages.Add((SinkTestKit.Key(500), Encoding.UTF8.GetBytes("{\"id\": 500, \"ssn\": \"123-45-6789\", \"name\": "), null)); // not JSON
        messages.Add((SinkTestKit.Key(501), [], null));                                                                        // empty
        messages.Add((SinkTestKit.Key(7), null, SinkTestKit.Change(ChangeOp.Delete, 900, 1, DateTime.UtcNow)));                // tombstone
        messages.Add((SinkTestKit.Key(8), null, null));                                                                        // tombstone, no headers
        var reports = kit.Produce(messages);
        var (host, _) = await StartAsync(kit, store, configure: t => t.Refuse = r => r.Id % 25 == 0 && !r.IsDelete);

        await kit.WaitForCommittedToEndAsync(Group);
        var dead = kit.ReadDeadLetters(6);
        Assert.Equal(6, dead.Count); // ids 25, 50, 75, 100 refused; 500, 501 unreadable
        var byKey = SinkTestKit.DeadLettersByKey(dead, reports, "fake-sink");
        Assert.Equal(["100", "25", "50", "500", "501", "75"], byKey.Keys.Order(StringComparer.Ordinal));
        foreach (var d in byKey.Values)
        {
            Assert.DoesNotContain("3456", Encoding.UTF8.GetString(d.Message.Value ?? []), StringComparison.Ordinal); // no clear ssn
            Assert.DoesNotContain("6789", Encoding.UTF8.GetString(d.Message.Value ?? []), StringComparison.Ordinal);
        }
        Assert.Equal("fake-refused", SinkTestKit.Header(byKey["25"], PipelineHeaders.DlqStage));
        Assert.Equal("fields-protected", SinkTestKit.Header(byKey["25"], PipelineHeaders.DlqValueForm));
        var protector = KafkaPipeline.Tests.TestProtection.Protector;
        var original25 = reports.Single(r => Encoding.UTF8.GetString(r.Message.Key!) == "25").Message.Value!;
        Assert.Equal(protector.Protect(original25), byKey["25"].Message.Value); // the record, its ssn hashed
        Assert.NotEqual(original25, byKey["25"].Message.Value);
        Assert.Equal("deserialize", SinkTestKit.Header(byKey["500"], PipelineHeaders.DlqStage));
        Assert.Equal("sealed", SinkTestKit.Header(byKey["500"], PipelineHeaders.DlqValueForm));
        Assert.Equal(messages[100].Value, protector.Unseal(byKey["500"].Message.Value));
        Assert.Contains("empty", SinkTestKit.Header(byKey["501"], PipelineHeaders.DlqError), StringComparison.Ordinal);

        // The tombstones reached the task as deletes of their ids.
        Assert.Contains(store.Records.Values, r => r.IsDelete && r.Id == 7 && r.Version == new SourceVersion(900, 1));
        Assert.Contains(store.Records.Values, r => r.IsDelete && r.Id == 8);
        Assert.Equal(6, Progress(host).DeadLettered);
    }

    [Fact]
    public async Task A_dead_letter_topic_that_keeps_failing_stops_the_sink_after_bounded_retries_without_committing_past_the_record()
    {
        await using var kit = new SinkTestKit();
        var store = new FakeStore();
        var reports = kit.ProduceUsers(Users(40));
        var bad = reports.Single(r => Encoding.UTF8.GetString(r.Message.Key!) == "20");
        // Every Produce request from now on fails with an error the producer does not retry by itself.
        kit.Kafka.PushRequestErrors(KafkaApiKey.Produce, Enumerable.Repeat(KafkaErrorCode.TopicAuthorizationFailed, 50).ToArray());
        var (host, _) = await StartAsync(kit, store, configure: t => t.Refuse = r => r.Id == 20);

        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        await kit.WaitUntilAsync(() => lifetime.ApplicationStopping.IsCancellationRequested, "the host to stop");
        Assert.True(kit.Logs.Contains(LogLevel.Critical, $"could not be written to the dead-letter topic {SinkTestKit.DeadLetterTopic} after {DeadLetterQueue.Retries + 1} attempts"), kit.Logs.Text);
        Assert.Equal(DeadLetterQueue.Retries, kit.Logs.Count(LogLevel.Warning, "Waiting for the dead-letter topic"));
        Assert.True(kit.Committed(Group)[bad.Partition.Value] <= bad.Offset.Value, "committed past a record that is neither stored nor dead-lettered");
        kit.Kafka.ClearRequestErrors(KafkaApiKey.Produce);
    }

    [Fact]
    public async Task A_failed_dead_letter_send_is_retried_and_each_record_lands_there_once()
    {
        await using var kit = new SinkTestKit();
        var store = new FakeStore();
        var reports = kit.ProduceUsers(Users(60));
        kit.Kafka.PushRequestErrors(KafkaApiKey.Produce, KafkaErrorCode.TopicAuthorizationFailed);
        var (host, _) = await StartAsync(kit, store, configure: t => t.Refuse = r => r.Id % 20 == 0);

        await kit.WaitForCommittedToEndAsync(Group);
        var dead = kit.ReadDeadLetters(3);
        Assert.Equal(["20", "40", "60"], dead.Select(d => Encoding.UTF8.GetString(d.Message.Key!)).Order(StringComparer.Ordinal));
        Assert.Equal(3, Progress(host).DeadLettered);
        Assert.True(kit.Logs.Contains(LogLevel.Warning, "Waiting for the dead-letter topic"), kit.Logs.Text);
        Assert.Equal(57, store.Stored.Count);
    }

    [Fact]
    public async Task A_second_instance_joining_mid_flow_gets_partitions_and_nothing_is_lost()
    {
        await using var kit = new SinkTestKit();
        var store = new FakeStore();
        var settings = new Dictionary<string, string?> { ["FakeSink:BatchSize"] = "100" };
        var (first, firstTask) = await StartAsync(kit, store, settings);
        var reports = kit.ProduceUsers(Users(3000));
        await kit.WaitUntilAsync(() => !store.Stored.IsEmpty, "the first instance storing");

        var (second, secondTask) = await StartAsync(kit, store, settings);
        // The rest once the group has split the partitions (the first instance alone could otherwise write it all).
        await kit.WaitUntilAsync(() => !secondTask.Opened.IsEmpty, "the second instance to open its partitions");
        reports.AddRange(kit.ProduceUsers(Users(3000, first: 3001)));
        await kit.WaitForCommittedToEndAsync(Group);
        await kit.WaitUntilAsync(() => store.Stored.Count == 6000, "all 6000 stored");
        // At least once: what the first instance stored while the group was already rebalancing may be read again by
        // the next owner when the commit in the revocation is refused (the embedded Kafka refuses it; a real broker
        // accepts commits of the old generation then). The sinks' own writes make a second store harmless.
        Assert.All(reports, r => Assert.True(store.Stored.ContainsKey((r.Partition.Value, r.Offset.Value))));
        Assert.True(kit.Logs.Contains(LogLevel.Information, "Revoked partitions"), kit.Logs.Text);
        Assert.NotEmpty(firstTask.Closed);
        Assert.True(Progress(second).Written > 0, "the second instance got no partitions");
        // How many are read again depends on how many rebalances the group needed (more on a loaded machine); what
        // must hold is that the written counters count each record once and never more than the store saw (a record
        // stored but revoked before it was durable is not counted).
        Assert.InRange(Progress(first).Written + Progress(second).Written, 6000, store.Stores);
    }

    [Fact]
    public async Task Lost_partitions_are_closed_without_a_commit_and_read_again_after_rejoining()
    {
        await using var kit = new SinkTestKit();
        var store = new FakeStore();
        var (host, task) = await StartAsync(kit, store);
        kit.ProduceUsers(Users(200));
        await kit.WaitForCommittedToEndAsync(Group);

        // The coordinator no longer knows the member: its assignment is lost (as after a stall longer than the session).
        const int UnknownMemberId = 25;
        kit.Kafka.PushRequestErrors(KafkaApiKey.Heartbeat, UnknownMemberId);
        await kit.WaitUntilAsync(() => kit.Logs.Contains(LogLevel.Warning, "Lost partitions"), "the assignment to be lost");
        await kit.WaitUntilAsync(() => task.Opened.Count >= 2, "the partitions to be opened again");
        var reports = kit.ProduceUsers(Users(200, first: 201));
        await kit.WaitForCommittedToEndAsync(Group);
        Assert.NotEmpty(task.Closed);
        Assert.All(reports, r => Assert.True(store.Stored.ContainsKey((r.Partition.Value, r.Offset.Value))));
        Assert.Equal(400, store.Stored.Count);
    }

    [Fact]
    public async Task A_partition_is_opened_where_the_task_says_and_one_resuming_beyond_its_end_is_stopped_with_an_error()
    {
        await using var kit = new SinkTestKit();
        var store = new FakeStore();
        var reports = kit.ProduceUsers(Users(400));
        var ends = await kit.HighWatermarksAsync();
        long stoppedMetric = 0;
        using var meters = new MeterListener
        {
            InstrumentPublished = (i, l) => { if (i.Name == "kafkapipeline.sink.partitions.stopped") l.EnableMeasurementEvents(i); },
        };
        meters.SetMeasurementEventCallback<long>((_, v, tags, _) =>
        {
            foreach (var t in tags) if (t.Key == "service" && Equals(t.Value, "fake-sink")) Interlocked.Add(ref stoppedMetric, v);
        });
        meters.Start();
        var (host, task) = await StartAsync(kit, store, configure: t =>
        {
            t.StartAt[0] = 5;                // partition 0 resumes at 5: 0..4 are never handed over
            t.StartAt[1] = ends[1] + 10;     // beyond the end (a recreated topic): stopped, never reset
        });

        await kit.WaitUntilAsync(() => Progress(host).StoppedPartitions == 1, "partition 1 stopped");
        await kit.WaitUntilAsync(() => store.Stored.Count == reports.Count(r => r.Partition.Value is 2 or 3) + (int)ends[0] - 5, "partitions 0, 2, 3 stored");
        Assert.DoesNotContain(store.Stored.Keys, k => k.Partition == 1 || (k.Partition == 0 && k.Offset < 5));
        Assert.True(kit.Logs.Contains(LogLevel.Error, $"Partition {SinkTestKit.Topic}/1 stopped: it should resume at offset {ends[1] + 10}, beyond its end ({ends[1]})"), kit.Logs.Text);
        Assert.Equal(1, Interlocked.Read(ref stoppedMetric));
        await kit.WaitUntilAsync(() => kit.Logs.Contains(LogLevel.Information, "STOPPED partitions 1"), "the summary to name it");
        Assert.Equal(0, kit.Committed(Group)[1]);
    }

    [Fact]
    public async Task A_partition_the_task_stops_is_committed_at_its_first_unstored_offset_paused_and_nothing_after_it_dead_lettered()
    {
        await using var kit = new SinkTestKit();
        var store = new FakeStore();
        var reports = kit.ProduceUsers(Users(400));
        var ends = await kit.HighWatermarksAsync();
        var (host, task) = await StartAsync(kit, store, configure: t => t.StopAt[1] = 10);

        await kit.WaitUntilAsync(() => Progress(host).StoppedPartitions == 1, "partition 1 stopped");
        await kit.WaitUntilAsync(() => kit.Committed(Group).OrderBy(c => c.Key).SequenceEqual(ends.Select(e => KeyValuePair.Create(e.Key, e.Key == 1 ? 10 : e.Value)).OrderBy(c => c.Key)),
            () => $"committed {string.Join(",", kit.Committed(Group))} at the ends but partition 1 at 10");
        Assert.True(kit.Logs.Contains(LogLevel.Warning, $"Partition {SinkTestKit.Topic}/1 stopped at offset 10 by the fake store"), kit.Logs.Text);
        Assert.DoesNotContain(store.Stored.Keys, k => k.Partition == 1 && k.Offset >= 10);
        Assert.Equal(10, store.Stored.Keys.Count(k => k.Partition == 1));

        // More records, one unreadable in partition 1 (after the stop: read again once resolved, not dead-lettered) and one in 2.
        var inOne = Enumerable.Range(10_000, 100).First(i => Murmur2Partitioner.Partition(SinkTestKit.Key(i), SinkTestKit.Partitions) == 1);
        var inTwo = Enumerable.Range(10_000, 100).First(i => Murmur2Partitioner.Partition(SinkTestKit.Key(i), SinkTestKit.Partitions) == 2);
        var more = kit.Produce([.. Users(100, 1000).Select(u => (SinkTestKit.Key(u.Id), (byte[]?)UsersEvents.Value(u), (Headers?)null)),
            (SinkTestKit.Key(inOne), "not an event"u8.ToArray(), null), (SinkTestKit.Key(inTwo), "not an event"u8.ToArray(), null)]);
        var endsAfter = await kit.HighWatermarksAsync();
        await kit.WaitUntilAsync(() => kit.Committed(Group).Where(c => c.Key != 1).All(c => c.Value == endsAfter[c.Key]), "the other partitions to the end");
        var dead = kit.ReadDeadLetters(1);
        Assert.Equal($"{inTwo}", Encoding.UTF8.GetString(Assert.Single(dead).Message.Key!));
        Assert.DoesNotContain(task.Attempts.SelectMany(a => a), a => a.Item1 == 1 && a.Item2 >= ends[1]); // partition 1 never handed over again
        Assert.Equal(10, kit.Committed(Group)[1]);
        Assert.Equal(1, Progress(host).StoppedPartitions);
        Assert.NotEmpty(more);
    }

    [Fact]
    public async Task End_to_end_latency_is_measured_from_the_commit_time_header_when_present_else_from_the_kafka_timestamp()
    {
        var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (i, l) => { if (i.Name == "kafkapipeline.e2e.latency") l.EnableMeasurementEvents(i); },
        };
        meters.SetMeasurementEventCallback<double>((_, v, tags, _) =>
        {
            foreach (var t in tags) if (t.Key == "sink" && Equals(t.Value, "fake")) latencies.Add(v);
        });
        meters.Start();
        await using var kit = new SinkTestKit();
        var store = new FakeStore();
        // updated_at now, but committed in PostgreSQL an hour ago (the header): the latency is the hour.
        kit.ProduceUsers(Users(10), _ => SinkTestKit.Change(ChangeOp.Update, 100, 1, DateTime.UtcNow.AddHours(-1)));
        await StartAsync(kit, store);
        await kit.WaitForCommittedToEndAsync(Group);
        await kit.WaitUntilAsync(() => latencies.Count >= 10, "ten latencies");
        Assert.All(latencies, ms => Assert.InRange(ms, TimeSpan.FromHours(1).TotalMilliseconds, TimeSpan.FromHours(1.1).TotalMilliseconds));

        latencies.Clear();
        // No commit time header: the latency counts from the record's Kafka timestamp (half an hour ago), not updated_at (now).
        var halfAnHourAgo = new Timestamp(DateTime.UtcNow.AddMinutes(-30), TimestampType.CreateTime);
        foreach (var u in Users(10, first: 11))
            await kit.Producer.ProduceAsync(SinkTestKit.Topic, new Message<byte[]?, byte[]?> { Key = SinkTestKit.Key(u.Id), Value = UsersEvents.Value(u), Timestamp = halfAnHourAgo });
        await kit.WaitForCommittedToEndAsync(Group);
        await kit.WaitUntilAsync(() => latencies.Count >= 10, "ten more latencies");
        Assert.All(latencies, ms => Assert.InRange(ms, TimeSpan.FromMinutes(30).TotalMilliseconds, TimeSpan.FromMinutes(40).TotalMilliseconds));
    }

    private static readonly SourceEpoch s_epoch = new(3, 7421937485739012345, 1, 0x1000000);

    /// <summary>Headers of a streamed change of user <paramref name="id"/>: commit LSN 1000+id (or <paramref name="lsn"/>), change LSN != 0, tx index 0.</summary>
    private static Headers Streamed(long id, ulong? lsn = null, SourceEpoch? epoch = null)
    {
        var headers = new Headers();
        var at = lsn ?? (ulong)(1000 + id);
        ChangeHeaders.Write(headers, new ChangeMetadata(ChangeOp.Update, new SourceVersion(at, at), DateTime.UtcNow, Table: "public.users",
            Epoch: epoch ?? s_epoch, TxIndex: 0));
        return headers;
    }

    [Fact]
    public async Task Stale_repeats_of_an_epoch_are_skipped_counted_and_committed_past_also_right_after_a_restart()
    {
        await using var kit = new SinkTestKit();
        var store = new FakeStore();
        var written = kit.ProduceUsers(Users(20), u => Streamed(u.Id));
        // A source that outlived its lease delivers again what its successor wrote (same epoch, positions not above).
        var repeats = kit.ProduceUsers(Users(20), u => Streamed(u.Id));
        // Not repeats: a newer position, a snapshot row (change LSN 0) and a record of a newer epoch with a lower LSN.
        var fresh = kit.ProduceUsers(Users(1, 21), u => Streamed(u.Id));
        var snapshot = kit.ProduceUsers(Users(1, 1), _ =>
        {
            var h = new Headers();
            ChangeHeaders.Write(h, new ChangeMetadata(ChangeOp.Read, new SourceVersion(5, 0), DateTime.UtcNow, Table: "public.users", Epoch: s_epoch));
            return h;
        });
        var newEpoch = kit.ProduceUsers(Users(1, 2), _ => Streamed(2, lsn: 10, epoch: s_epoch with { Ordinal = 4 }));
        var (host, _) = await StartAsync(kit, store);
        await kit.WaitForCommittedToEndAsync(Group);

        AssertStoredOnce(store, [.. written, .. fresh, .. snapshot, .. newEpoch]);
        Assert.DoesNotContain(repeats, r => store.Stored.ContainsKey((r.Partition.Value, r.Offset.Value)));
        Assert.Equal(20, Progress(host).StaleRepeats);
        Assert.Equal(0, Progress(host).DeadLettered);
        Assert.Empty(kit.ReadDeadLetters(0));
        Assert.Contains(kit.Logs.Lines, l => l.Level == LogLevel.Warning && l.Message.Contains("stale repeats", StringComparison.Ordinal));

        // After a restart, the first record read repeats the last one written before: the newest is seeded from Kafka.
        await host.StopAsync();
        // A partition whose last record is a streamed one of this epoch (not the snapshot row, nor the newer epoch's).
        var last = written.Concat(repeats).Concat(fresh).Concat(snapshot).Concat(newEpoch).GroupBy(r => r.Partition.Value)
            .Select(g => g.MaxBy(r => r.Offset.Value)!).First(r => !snapshot.Concat(newEpoch).Contains(r));
        var id = long.Parse(Encoding.UTF8.GetString(last.Message.Key!), System.Globalization.CultureInfo.InvariantCulture);
        var again = kit.ProduceUsers([User(id)], u => Streamed(u.Id));
        Assert.Equal(last.Partition.Value, again.Single().Partition.Value);
        var (restarted, _) = await StartAsync(kit, store);
        await kit.WaitForCommittedToEndAsync(Group);
        Assert.False(store.Stored.ContainsKey((again.Single().Partition.Value, again.Single().Offset.Value)));
        Assert.Equal(1, Progress(restarted).StaleRepeats);
    }
}
