using System.Diagnostics;
using Confluent.Kafka;
using KafkaPipeline.EmbeddedKafka;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Kafka.KafkaTestClients;

namespace KafkaPipeline.IntegrationTests.Kafka;

public sealed class EmbeddedKafkaRoundTripTests(ITestOutputHelper output)
{
    private const string Topic = "round-trip";
    private const int Partitions = 4;

    [Fact]
    public async Task Ten_thousand_keyed_messages_round_trip_through_a_consumer_group_with_committed_offsets()
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        cluster.CreateTopic(Topic, Partitions);
        var keys = Keys(10_000);
        var clock = Stopwatch.StartNew();

        using (var producer = IdempotentProducer(cluster.BootstrapServers))
            AssertAllPersistedOnce(ProduceAll(producer, Topic, keys), keys);
        var produced = clock.Elapsed;

        // Consume as group "g", committing offsets by hand every 1,000 messages and at the end.
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var next = new Dictionary<int, long>();
        using (var consumer = Consumer(cluster.BootstrapServers, "g"))
        {
            consumer.Subscribe(Topic);
            var deadline = DateTime.UtcNow + Patience;
            while (seen.Count < keys.Count)
            {
                Assert.True(DateTime.UtcNow < deadline, $"only {seen.Count} of {keys.Count} keys consumed in time");
                var r = consumer.Consume(TimeSpan.FromMilliseconds(500));
                if (r is null || r.IsPartitionEOF)
                    continue;
                Assert.Equal(r.Message.Key, r.Message.Value);
                seen[r.Message.Key] = seen.GetValueOrDefault(r.Message.Key) + 1;
                next[r.Partition.Value] = r.Offset.Value + 1;
                if (seen.Count % 1000 == 0)
                    consumer.Commit(next.Select(p => new TopicPartitionOffset(Topic, p.Key, p.Value)));
            }
            consumer.Commit(next.Select(p => new TopicPartitionOffset(Topic, p.Key, p.Value)));
            consumer.Close();
        }
        output.WriteLine($"10,000 messages: produced in {produced.TotalMilliseconds:F0} ms, produced+consumed+committed in {clock.Elapsed.TotalMilliseconds:F0} ms");

        Assert.Equal(keys.OrderBy(k => k, StringComparer.Ordinal), seen.Keys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.All(seen, kv => Assert.Equal(1, kv.Value));

        // The group's committed offsets are exactly the high watermarks.
        var marks = await EmbeddedKafkaCluster.GetWatermarksAsync(cluster.BootstrapServers, Topic);
        Assert.Equal(Partitions, marks.Count);
        Assert.Equal(keys.Count, marks.Sum(m => m.High - m.Low));
        Assert.Equal(keys.Count, await EmbeddedKafkaCluster.CountMessagesAsync(cluster.BootstrapServers, Topic));
        using (var probe = Consumer(cluster.BootstrapServers, "g"))
        {
            var committed = probe.Committed(marks.Select(m => new TopicPartition(Topic, m.Partition)), TimeSpan.FromSeconds(10));
            Assert.Equal(marks.Select(m => (m.Partition, m.High)),
                committed.OrderBy(c => c.Partition.Value).Select(c => (c.Partition.Value, c.Offset.Value)));
        }

        // A restarted member of the same group resumes at the committed offsets: every partition is at its end.
        using (var restarted = Consumer(cluster.BootstrapServers, "g"))
        {
            restarted.Subscribe(Topic);
            var eof = new Dictionary<int, long>();
            var redelivered = 0;
            var deadline = DateTime.UtcNow + Patience;
            while (eof.Count < Partitions)
            {
                Assert.True(DateTime.UtcNow < deadline, "restarted consumer did not reach the end of every partition in time");
                var r = restarted.Consume(TimeSpan.FromMilliseconds(500));
                if (r is null)
                    continue;
                if (r.IsPartitionEOF)
                    eof[r.Partition.Value] = r.Offset.Value;
                else
                    redelivered++;
            }
            restarted.Close();
            Assert.Equal(0, redelivered);
            Assert.Equal(marks.Select(m => (m.Partition, m.High)), eof.OrderBy(e => e.Key).Select(e => (e.Key, e.Value)));
        }
    }

    [Fact]
    public async Task CountMessages_is_zero_for_a_missing_topic_and_does_not_create_it()
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        Assert.Equal(0, await EmbeddedKafkaCluster.CountMessagesAsync(cluster.BootstrapServers, "no-such-topic"));
        Assert.Empty(await EmbeddedKafkaCluster.GetWatermarksAsync(cluster.BootstrapServers, "no-such-topic"));

        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        Assert.DoesNotContain(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == "no-such-topic");
    }
}
