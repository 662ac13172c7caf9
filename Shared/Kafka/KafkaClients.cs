using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace KafkaPipeline.Shared;

/// <summary>
/// The services' Kafka client, built from <c>ConnectionStrings:kafka</c>: the smallest equivalent of
/// Aspire.Confluent.Kafka, which is not served on our machines. Every producer and consumer made here reports
/// librdkafka's statistics as metrics (<see cref="KafkaClientMetrics"/>) and logs through ILogger; the "kafka" health
/// check asks the cluster for its metadata.
/// </summary>
public sealed class KafkaClients(string bootstrapServers, ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger("KafkaPipeline.Kafka");

    public string BootstrapServers { get; } = bootstrapServers;

    /// <summary>The pipeline's producer settings (<see cref="KafkaSettings.Producer"/>) on this cluster.</summary>
    public ProducerBuilder<TKey, TValue> Producer<TKey, TValue>(string clientId, Action<ProducerConfig>? configure = null)
    {
        var config = KafkaSettings.Producer(BootstrapServers, clientId);
        configure?.Invoke(config);
        config.StatisticsIntervalMs ??= KafkaClientMetrics.IntervalMs;
        return new ProducerBuilder<TKey, TValue>(config)
            .SetStatisticsHandler((_, json) => KafkaClientMetrics.Record(json))
            .SetLogHandler((_, m) => Log(m));
    }

    /// <summary>The pipeline's consumer settings (<see cref="KafkaSettings.Consumer"/>); callers add their handlers.</summary>
    public ConsumerBuilder<TKey, TValue> Consumer<TKey, TValue>(string groupId, string clientId, Action<ConsumerConfig>? configure = null)
    {
        var config = KafkaSettings.Consumer(BootstrapServers, groupId, clientId);
        configure?.Invoke(config);
        config.StatisticsIntervalMs ??= KafkaClientMetrics.IntervalMs;
        return new ConsumerBuilder<TKey, TValue>(config)
            .SetStatisticsHandler((_, json) => KafkaClientMetrics.Record(json))
            .SetLogHandler((_, m) => Log(m));
    }

    private void Log(LogMessage m) =>
        _logger.Log(m.Level switch
        {
            SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical or SyslogLevel.Error => LogLevel.Error,
            SyslogLevel.Warning => LogLevel.Warning,
            SyslogLevel.Notice or SyslogLevel.Info => LogLevel.Information,
            _ => LogLevel.Debug,
        }, "librdkafka {Client} {Facility}: {Message}", m.Name, m.Facility, m.Message);

    /// <summary>Healthy when a broker answers a metadata request.</summary>
    public HealthCheckResult CheckHealth(TimeSpan timeout)
    {
        try
        {
            using var admin = new AdminClientBuilder(new AdminClientConfig
            {
                BootstrapServers = BootstrapServers,
                SocketTimeoutMs = (int)timeout.TotalMilliseconds,
            }).SetLogHandler((_, _) => { }).Build();
            var metadata = admin.GetMetadata(timeout);
            return metadata.Brokers.Count > 0
                ? HealthCheckResult.Healthy($"{metadata.Brokers.Count} broker(s)")
                : HealthCheckResult.Unhealthy("Kafka: no broker answered");
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy("Kafka unreachable", e);
        }
    }
}

/// <summary>librdkafka's statistics (emitted every few seconds by each client) as OpenTelemetry instruments.</summary>
public static class KafkaClientMetrics
{
    public const string MeterName = "KafkaPipeline.Kafka";
    public const int IntervalMs = 5000;

    private static readonly Meter s_meter = new(MeterName);
    private static readonly ConcurrentDictionary<string, Snapshot> s_latest = new();

    private sealed record Snapshot(string Type, long Queued, long Replies, long Tx, long TxBytes, long Rx, long RxBytes, long TxMessages, long RxMessages);

    static KafkaClientMetrics()
    {
        Gauge("kafka.client.queue.messages", "{message}", "Messages waiting in the producer queue", s => s.Queued);
        Gauge("kafka.client.replyq", "{op}", "Operations waiting for the application to poll", s => s.Replies);
        Counter("kafka.client.requests.sent", "{request}", "Requests sent to brokers", s => s.Tx);
        Counter("kafka.client.bytes.sent", "By", "Bytes sent to brokers", s => s.TxBytes);
        Counter("kafka.client.responses.received", "{response}", "Responses received from brokers", s => s.Rx);
        Counter("kafka.client.bytes.received", "By", "Bytes received from brokers", s => s.RxBytes);
        Counter("kafka.client.messages.sent", "{message}", "Messages sent to brokers", s => s.TxMessages);
        Counter("kafka.client.messages.received", "{message}", "Messages received from brokers", s => s.RxMessages);
    }

    /// <summary>Keeps the latest totals of one client (called by librdkafka's statistics callback).</summary>
    public static void Record(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var r = doc.RootElement;
            long L(string name) => r.TryGetProperty(name, out var v) && v.TryGetInt64(out var n) ? n : 0;
            var name = r.GetProperty("name").GetString() ?? "?";
            s_latest[name] = new Snapshot(r.GetProperty("type").GetString() ?? "?", L("msg_cnt"), L("replyq"),
                L("tx"), L("tx_bytes"), L("rx"), L("rx_bytes"), L("txmsgs"), L("rxmsgs"));
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            // A statistics document of another shape is not worth failing a client for.
        }
    }

    private static IEnumerable<Measurement<long>> Read(Func<Snapshot, long> value) =>
        s_latest.Select(kv => new Measurement<long>(value(kv.Value),
            new KeyValuePair<string, object?>("kafka.client", kv.Key), new KeyValuePair<string, object?>("kafka.client.type", kv.Value.Type)));

    private static void Gauge(string name, string unit, string description, Func<Snapshot, long> value) =>
        s_meter.CreateObservableGauge(name, () => Read(value), unit, description);

    private static void Counter(string name, string unit, string description, Func<Snapshot, long> value) =>
        s_meter.CreateObservableCounter(name, () => Read(value), unit, description);
}

public static class KafkaClientsExtensions
{
    private static readonly TimeSpan s_healthTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Registers <see cref="KafkaClients"/> for <c>ConnectionStrings:{connectionName}</c> (missing: fails naming the
    /// setting), its "kafka" health check, and its metrics with OpenTelemetry.
    /// </summary>
    public static IHostApplicationBuilder AddKafkaClients(this IHostApplicationBuilder builder, string connectionName = ConnectionNames.Kafka)
    {
        var bootstrap = ConnectionNames.Require(builder.Configuration, connectionName);
        builder.Services.AddSingleton(sp => new KafkaClients(bootstrap, sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddHealthChecks().AddCheck<KafkaHealthCheck>("kafka", failureStatus: null, ["ready"], s_healthTimeout);
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(KafkaClientMetrics.MeterName));
        return builder;
    }

    private sealed class KafkaHealthCheck(KafkaClients clients) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.Run(() => clients.CheckHealth(s_healthTimeout), cancellationToken);
    }
}
