using System.Diagnostics;
using Confluent.Kafka;
using KafkaPipeline.EmbeddedKafka;
using Xunit.Abstractions;

namespace KafkaPipeline.IntegrationTests.Kafka;

/// <summary>
/// librdkafka's mock drops the oldest batches beyond 5 MiB a partition; the embedded cluster lifts that for
/// its topics so a backfill-sized topic (200,000 x 400 B) can still be read from offset 0.
/// </summary>
public sealed class EmbeddedKafkaRetentionTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_backfill_sized_topic_keeps_every_message_from_offset_zero()
    {
        const string topic = "backfill";
        const int partitions = 4;
        const int count = 200_000;
        using var cluster = EmbeddedKafkaCluster.Start();
        cluster.CreateTopic(topic, partitions);
        Assert.True(cluster.KeepsAllMessages(topic), $"retention limit not lifted (librdkafka {EmbeddedKafkaCluster.LibrdkafkaVersion})");

        // ~400-byte values, ~80 MB in all: 4x the mock's default 5 MiB per partition. Not compressible by design.
        var clock = Stopwatch.StartNew();
        var random = new Random(42);
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            EnableIdempotence = true,
            LingerMs = 20,
        }).SetLogHandler((_, _) => { }).Build())
        {
            var failed = 0;
            for (var i = 0; i < count; i++)
            {
                var value = new byte[400];
                random.NextBytes(value);
                while (true)
                {
                    try
                    {
                        producer.Produce(topic, new Message<string, byte[]> { Key = $"k{i}", Value = value },
                            r => { if (r.Error.IsError) Interlocked.Increment(ref failed); });
                        break;
                    }
                    catch (ProduceException<string, byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                    {
                        producer.Poll(TimeSpan.FromMilliseconds(20));
                    }
                }
            }
            Assert.Equal(0, producer.Flush(KafkaTestClients.Patience));
            Assert.Equal(0, failed);
        }
        var produced = clock.Elapsed;

        var marks = await EmbeddedKafkaCluster.GetWatermarksAsync(cluster.BootstrapServers, topic);
        Assert.All(marks, m => Assert.Equal(0, m.Low));
        Assert.Equal(count, marks.Sum(m => m.High));

        clock.Restart();
        var read = 0L;
        var bytes = 0L;
        using (var consumer = new ConsumerBuilder<Ignore, byte[]>(new ConsumerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            GroupId = "backfill-reader",
            EnablePartitionEof = true,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build())
        {
            consumer.Assign(marks.Select(m => new TopicPartitionOffset(topic, m.Partition, 0)));
            var atEnd = new HashSet<int>();
            var expected = marks.ToDictionary(m => m.Partition, m => 0L);
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
            while (atEnd.Count < partitions)
            {
                Assert.True(DateTime.UtcNow < deadline, $"only {read} of {count} read in time");
                var r = consumer.Consume(TimeSpan.FromMilliseconds(500));
                if (r is null)
                    continue;
                if (r.IsPartitionEOF)
                {
                    atEnd.Add(r.Partition.Value);
                    continue;
                }
                // Contiguous from offset 0: nothing was dropped from the head of any partition.
                Assert.Equal(expected[r.Partition.Value]++, r.Offset.Value);
                read++;
                bytes += r.Message.Value.Length;
            }
        }
        output.WriteLine($"{count:N0} x 400 B: produced in {produced.TotalSeconds:F1} s, read from offset 0 in {clock.Elapsed.TotalSeconds:F1} s ({bytes / 1_000_000} MB)");
        Assert.Equal(count, read);
    }

    [Fact]
    public void Auto_created_topics_have_four_partitions_and_can_be_made_to_keep_everything()
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers })
            .SetLogHandler((_, _) => { }).Build())
        {
            producer.Produce("auto", new Message<Null, string> { Value = "x" });
            Assert.Equal(0, producer.Flush(KafkaTestClients.Patience));
        }
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        var auto = Assert.Single(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == "auto");
        Assert.Equal(4, auto.Partitions.Count);

        Assert.False(cluster.KeepsAllMessages("auto"));
        cluster.KeepAllMessages("auto");
        Assert.True(cluster.KeepsAllMessages("auto"));
        var missing = Assert.Throws<InvalidOperationException>(() => cluster.KeepAllMessages("never-created"));
        Assert.Contains("never-created is not in the mock cluster", missing.Message);
    }

    [Fact]
    public void CreateTopic_fails_loudly_when_the_retention_limit_cannot_be_lifted()
    {
        // As if another librdkafka (with an unchecked struct layout) were loaded: nothing may be written, and the topic
        // must not be handed out as if it kept everything.
        using var cluster = EmbeddedKafkaCluster.Start(brokers: 1, layoutVersion: 0x02000200);
        var e = Assert.Throws<InvalidOperationException>(() => cluster.CreateTopic("limited", 4));
        Assert.Contains("known for librdkafka 2.16.x only, this is 2.0.2", e.Message);
        Assert.False(cluster.KeepsAllMessages("limited"));
    }
}
