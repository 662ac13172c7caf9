using Confluent.Kafka;
using KafkaPipeline.EmbeddedKafka;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Kafka.KafkaTestClients;

namespace KafkaPipeline.IntegrationTests.Kafka;

/// <summary>The fault switches are real: clients notice them, and the idempotent producer rides them out.</summary>
public sealed class EmbeddedKafkaFaultTests(ITestOutputHelper output)
{
    private const int Partitions = 4;

    [Fact]
    public async Task Nothing_is_lost_when_a_broker_goes_down_and_up_during_produce_and_consume()
    {
        const string topic = "broker-down";
        using var cluster = EmbeddedKafkaCluster.Start(brokers: 3);
        cluster.CreateTopic(topic, Partitions, replicationFactor: 3);
        // Partition 0 is led by broker 1, so taking broker 1 down stalls at least that partition.
        cluster.SetPartitionLeader(topic, 0, 1);
        var keys = Keys(10_000);

        var positions = new Dictionary<string, HashSet<(int, long)>>(StringComparer.Ordinal);
        using var stopConsuming = new CancellationTokenSource();
        var consuming = Task.Run(() =>
        {
            using var consumer = Consumer(cluster.BootstrapServers, "g-down");
            consumer.Subscribe(topic);
            var next = new Dictionary<int, long>();
            while (!stopConsuming.IsCancellationRequested)
            {
                var r = consumer.Consume(TimeSpan.FromMilliseconds(200));
                if (r is null || r.IsPartitionEOF)
                    continue;
                lock (positions)
                {
                    if (!positions.TryGetValue(r.Message.Key, out var at))
                        positions[r.Message.Key] = at = [];
                    at.Add((r.Partition.Value, r.Offset.Value));
                }
                next[r.Partition.Value] = r.Offset.Value + 1;
                if (r.Offset.Value % 500 == 0)
                {
                    try
                    {
                        consumer.Commit(next.Select(p => new TopicPartitionOffset(topic, p.Key, p.Value)));
                    }
                    catch (KafkaException)
                    {
                        // The coordinator may be the broker that is down: at-least-once, a later commit catches up.
                    }
                }
            }
            consumer.Close();
        });

        var reports = new List<DeliveryReport<string, string>>();
        using (var producer = IdempotentProducer(cluster.BootstrapServers))
        {
            for (var i = 0; i < keys.Count; i++)
            {
                Produce(producer, topic, keys[i], reports);
                if (i % 500 == 499)
                    await Task.Delay(100); // spread the 10,000 over ~2 s so the outage falls in the middle
                if (i == 4_000)
                    cluster.SetBrokerDown(1);
                if (i == 7_000)
                {
                    await Task.Delay(TimeSpan.FromSeconds(3)); // keep it down a few seconds
                    cluster.SetBrokerUp(1);
                }
            }
            Assert.Equal(0, producer.Flush(Patience));
        }
        AssertAllPersistedOnce(reports, keys);
        var atPartition0 = reports.Count(r => r.Partition.Value == 0 && r.Offset.Value > 0);
        Assert.True(atPartition0 > 0, "no message went to the partition whose leader was taken down");

        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            lock (positions)
                if (positions.Count == keys.Count)
                    break;
            Assert.True(DateTime.UtcNow < deadline, $"only {positions.Count} of {keys.Count} keys consumed in time");
            await Task.Delay(100);
        }
        await stopConsuming.CancelAsync();
        await consuming;

        // Every key was received, each at exactly one (partition, offset): the producer wrote no duplicates.
        Assert.Equal(keys.OrderBy(k => k, StringComparer.Ordinal), positions.Keys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.All(positions, kv => Assert.Single(kv.Value));
        Assert.Equal(keys.Count, await EmbeddedKafkaCluster.CountMessagesAsync(cluster.BootstrapServers, topic));
    }

    [Fact]
    public async Task The_idempotent_producer_survives_round_trip_delay_and_injected_retriable_errors()
    {
        const string topic = "flaky";
        using var cluster = EmbeddedKafkaCluster.Start(brokers: 3);
        cluster.CreateTopic(topic, Partitions, replicationFactor: 3);
        for (var broker = 1; broker <= 3; broker++)
            cluster.SetRoundTripTime(broker, TimeSpan.FromMilliseconds(50));
        // Retriable produce errors: the producer must retry the same batches (same sequence numbers).
        cluster.PushRequestErrors(KafkaApiKey.Produce,
            KafkaErrorCode.NotEnoughReplicas, KafkaErrorCode.NotLeaderForPartition, KafkaErrorCode.RequestTimedOut,
            KafkaErrorCode.NotEnoughReplicasAfterAppend, KafkaErrorCode.LeaderNotAvailable, KafkaErrorCode.NotEnoughReplicas);
        var keys = Keys(5_000);

        var started = DateTime.UtcNow;
        List<DeliveryReport<string, string>> reports;
        using (var producer = IdempotentProducer(cluster.BootstrapServers))
        {
            // A first message alone, so the injected errors hit real produce requests one after another.
            reports = ProduceAll(producer, topic, keys.Take(1));
            reports.AddRange(ProduceAll(producer, topic, keys.Skip(1)));
        }
        output.WriteLine($"5,000 messages through 50 ms RTT and 6 injected errors in {(DateTime.UtcNow - started).TotalMilliseconds:F0} ms");
        AssertAllPersistedOnce(reports, keys);

        var all = ReadAll(cluster.BootstrapServers, topic, Partitions);
        Assert.Equal(keys.Count, all.Count);
        Assert.Equal(keys.OrderBy(k => k, StringComparer.Ordinal), all.Select(r => r.Message.Key).OrderBy(k => k, StringComparer.Ordinal));
        Assert.Equal(keys.Count, await EmbeddedKafkaCluster.CountMessagesAsync(cluster.BootstrapServers, topic));
    }

    [Fact]
    public async Task Injected_errors_reach_the_client_until_cleared()
    {
        const string topic = "denied";
        using var cluster = EmbeddedKafkaCluster.Start();
        cluster.CreateTopic(topic, 1);
        // Not retriable, so the client must report it; the clear is checked with a second producer of its own.
        cluster.PushRequestErrors(KafkaApiKey.Produce, KafkaErrorCode.InvalidRequiredAcks, KafkaErrorCode.InvalidRequiredAcks);

        using (var producer = PlainProducer(cluster.BootstrapServers))
        {
            var denied = await Assert.ThrowsAsync<ProduceException<string, string>>(
                () => producer.ProduceAsync(topic, new Message<string, string> { Key = "a", Value = "a" }));
            Assert.Equal(ErrorCode.InvalidRequiredAcks, denied.Error.Code);
        }

        cluster.ClearRequestErrors(KafkaApiKey.Produce); // drops the second one
        using (var producer = PlainProducer(cluster.BootstrapServers))
        {
            var ok = await producer.ProduceAsync(topic, new Message<string, string> { Key = "b", Value = "b" });
            Assert.Equal(PersistenceStatus.Persisted, ok.Status);
            Assert.Equal(0, ok.Offset.Value); // the refused message was never written
        }
    }

    private static IProducer<string, string> PlainProducer(string bootstrap) =>
        new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = bootstrap, MessageTimeoutMs = 10_000 })
            .SetLogHandler((_, _) => { }).Build();

    [Fact]
    public void A_broker_that_is_down_refuses_connections()
    {
        using var cluster = EmbeddedKafkaCluster.Start(brokers: 2);
        var brokerOne = cluster.BootstrapServers.Split(',')[0];
        cluster.SetBrokerDown(1);
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = brokerOne })
            .SetLogHandler((_, _) => { }).Build();
        Assert.Throws<KafkaException>(() => admin.GetMetadata(TimeSpan.FromSeconds(2)));

        cluster.SetBrokerUp(1);
        Assert.Equal(2, admin.GetMetadata(TimeSpan.FromSeconds(10)).Brokers.Count);
    }
}
