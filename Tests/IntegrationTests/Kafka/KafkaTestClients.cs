using Confluent.Kafka;

namespace KafkaPipeline.IntegrationTests.Kafka;

/// <summary>Client settings and small loops shared by the embedded-Kafka tests.</summary>
internal static class KafkaTestClients
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    public static IProducer<string, string> IdempotentProducer(string bootstrap, int messageTimeoutMs = 120_000) =>
        new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
            MessageTimeoutMs = messageTimeoutMs,
        }).SetLogHandler((_, _) => { }).Build();

    public static IConsumer<string, string> Consumer(string bootstrap, string groupId) =>
        new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = groupId,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            EnablePartitionEof = true,
            SessionTimeoutMs = 10_000,
        }).SetLogHandler((_, _) => { }).Build();

    public static List<string> Keys(int count) =>
        Enumerable.Range(0, count).Select(i => $"user-{i:D6}").ToList();

    /// <summary>Produces every key (value = key) and waits for all delivery reports.</summary>
    public static List<DeliveryReport<string, string>> ProduceAll(IProducer<string, string> producer, string topic, IEnumerable<string> keys)
    {
        var reports = new List<DeliveryReport<string, string>>();
        foreach (var key in keys)
            Produce(producer, topic, key, reports);
        producer.Flush(Patience);
        lock (reports)
            return [.. reports];
    }

    public static void Produce(IProducer<string, string> producer, string topic, string key, List<DeliveryReport<string, string>> reports)
    {
        while (true)
        {
            try
            {
                producer.Produce(topic, new Message<string, string> { Key = key, Value = key }, r =>
                {
                    lock (reports)
                        reports.Add(r);
                });
                return;
            }
            catch (ProduceException<string, string> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                producer.Poll(TimeSpan.FromMilliseconds(50));
            }
        }
    }

    /// <summary>Distinct (partition, offset) per key from the delivery reports; asserts none failed.</summary>
    public static void AssertAllPersistedOnce(IReadOnlyCollection<DeliveryReport<string, string>> reports, IReadOnlyCollection<string> keys)
    {
        Assert.Equal(keys.Count, reports.Count);
        var failed = reports.Where(r => r.Error.IsError).Select(r => $"{r.Message.Key}: {r.Error.Reason}").Take(5).ToList();
        Assert.True(failed.Count == 0, "delivery failed: " + string.Join("; ", failed));
        Assert.All(reports, r => Assert.Equal(PersistenceStatus.Persisted, r.Status));
        Assert.Equal(keys.OrderBy(k => k, StringComparer.Ordinal), reports.Select(r => r.Message.Key).OrderBy(k => k, StringComparer.Ordinal));
        Assert.Equal(reports.Count, reports.Select(r => (r.Partition.Value, r.Offset.Value)).Distinct().Count());
    }

    /// <summary>Reads a whole topic from the beginning (no group commits) until every partition reports EOF.</summary>
    public static List<ConsumeResult<string, string>> ReadAll(string bootstrap, string topic, int partitions)
    {
        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = "read-all-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            EnablePartitionEof = true,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var results = new List<ConsumeResult<string, string>>();
        var atEnd = new HashSet<int>();
        var deadline = DateTime.UtcNow + Patience;
        while (atEnd.Count < partitions)
        {
            Assert.True(DateTime.UtcNow < deadline, $"topic {topic} not read to the end in time ({results.Count} read)");
            var r = consumer.Consume(TimeSpan.FromMilliseconds(500));
            if (r is null)
                continue;
            if (r.IsPartitionEOF)
                atEnd.Add(r.Partition.Value);
            else
                results.Add(r);
        }
        return results;
    }
}
