using Confluent.Kafka;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.Shared;

namespace KafkaPipeline.IntegrationTests.Kafka;

/// <summary>
/// The client (Confluent.Kafka) and the embedded cluster (its own P/Invoke) share exactly one librdkafka, the 2.16 build
/// of librdkafka.redist next to the tests, whatever librdkafka the machine has installed (Debian's librdkafka-dev puts a
/// 2.0.2 behind the plain name "librdkafka.so", which the 2.x consumer cannot use).
/// </summary>
public sealed class LibrdkafkaLoadingTests
{
    [Fact]
    public async Task Client_and_embedded_cluster_use_one_librdkafka_2_16_from_the_redist_package()
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        cluster.CreateTopic("one-lib", 1);
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            await producer.ProduceAsync("one-lib", new Message<Null, string> { Value = "hello" });
        }
        using (var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            GroupId = "one-lib",
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build())
        {
            // The 2.x consumer path that fails on Debian's 2.0.2 (rd_kafka_topic_partition_get_leader_epoch).
            consumer.Subscribe("one-lib");
            var record = consumer.Consume(KafkaTestClients.Patience);
            Assert.Equal("hello", record?.Message.Value);
            consumer.Close();
        }

        Assert.Equal("2.16.0", Library.VersionString);
        Assert.Equal("2.16.0", EmbeddedKafkaCluster.LibrdkafkaVersion);

        var mapped = File.ReadAllLines("/proc/self/maps")
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields.Length >= 6 && fields[5].Contains("rdkafka", StringComparison.Ordinal))
            .Select(fields => fields[5])
            .Distinct()
            .ToList();
        var file = Assert.Single(mapped);
        Assert.Equal(Librdkafka.LoadedPath, file);
        Assert.StartsWith(AppContext.BaseDirectory, file, StringComparison.Ordinal);
        Assert.EndsWith("centos8-librdkafka.so", file, StringComparison.Ordinal);
    }
}
