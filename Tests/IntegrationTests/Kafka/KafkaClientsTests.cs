using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Confluent.Kafka;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.Shared;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;

namespace KafkaPipeline.IntegrationTests.Kafka;

// Shared/Kafka/KafkaClients.cs against the embedded Kafka: the services' Kafka client, its health check and its metrics.
public sealed class KafkaClientsTests
{
    [Fact]
    public async Task Librdkafka_statistics_of_a_producer_are_reported_as_metrics()
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        cluster.CreateTopic("stats", 1);
        var sent = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == KafkaClientMetrics.MeterName) l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == "kafka.client" && instrument.Name == "kafka.client.messages.sent") sent[(string)tag.Value!] = value;
        });
        listener.Start();

        var clients = new KafkaClients(cluster.BootstrapServers, NullLoggerFactory.Instance);
        using var producer = clients.Producer<string, string>("stats-test", c => c.StatisticsIntervalMs = 200).Build();
        for (var i = 0; i < 50; i++) await producer.ProduceAsync("stats", new Message<string, string> { Key = $"{i}", Value = "v" });

        // librdkafka emits statistics on its own schedule: read the gauges until the 50 messages show (bounded wait).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!sent.Any(kv => kv.Key.StartsWith("stats-test", StringComparison.Ordinal) && kv.Value >= 50) && DateTime.UtcNow < deadline)
        {
            producer.Poll(TimeSpan.FromMilliseconds(100)); // statistics callbacks are served by polls
            listener.RecordObservableInstruments();
        }
        Assert.Contains(sent, kv => kv.Key.StartsWith("stats-test", StringComparison.Ordinal) && kv.Value >= 50);
    }

    [Fact]
    public void The_health_check_is_healthy_with_a_cluster_and_unhealthy_without()
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        var healthy = new KafkaClients(cluster.BootstrapServers, NullLoggerFactory.Instance).CheckHealth(TimeSpan.FromSeconds(10));
        Assert.Equal(HealthStatus.Healthy, healthy.Status);

        var bootstrap = cluster.BootstrapServers;
        cluster.Dispose();
        var unhealthy = new KafkaClients(bootstrap, NullLoggerFactory.Instance).CheckHealth(TimeSpan.FromSeconds(2));
        Assert.Equal(HealthStatus.Unhealthy, unhealthy.Status);
    }
}
