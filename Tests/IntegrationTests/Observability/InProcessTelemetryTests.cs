using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Amazon.S3.Model;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.Shared;
using Microsoft.AspNetCore.Builder;
using MySqlConnector;

namespace KafkaPipeline.IntegrationTests.Observability;

/// <summary>
/// The four services run in-process against the real servers; an in-process listener (the "in-process exporter")
/// collects every span and measurement of the "KafkaPipeline" source and meter.
/// </summary>
[Collection(InProcessTelemetryCollection.Name)]
public sealed class InProcessTelemetryTests
{
    private const int Users = 20;

    [Fact]
    public async Task Each_user_is_one_trace_from_insert_to_mysql_and_s3_and_the_metrics_are_emitted()
    {
        var spans = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == PipelineTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        ActivitySource.AddActivityListener(listener);
        var measurements = new ConcurrentDictionary<string, double>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == PipelineTelemetry.Name) l.EnableMeasurementEvents(instrument);
            },
        };
        meters.SetMeasurementEventCallback<long>((i, v, _, _) => measurements.AddOrUpdate(i.Name, v, (_, old) => old + v));
        meters.SetMeasurementEventCallback<double>((i, v, _, _) => measurements.AddOrUpdate(i.Name + ".max", v, (_, old) => Math.Max(old, v)));
        meters.Start();

        using var kafka = EmbeddedKafkaCluster.Start();
        kafka.CreateTopic("P_USERS", 4);
        kafka.CreateTopic("P_USERS.dlq", 1);
        var postgres = await TestServers.CreatePostgresDatabaseAsync("trace");
        var mysql = await TestServers.CreateMySqlDatabaseAsync("trace");
        using var bucket = await TestServers.CreateS3BucketAsync("trace");
        string[] common =
        [
            "--urls=http://127.0.0.1:0",
            $"--ConnectionStrings:usersdb={postgres}",
            $"--ConnectionStrings:kafka={kafka.BootstrapServers}",
            $"--ConnectionStrings:emaildb={mysql}",
            $"--S3:ServiceUrl={TestServers.S3Url}",
            $"--S3:Bucket={bucket.Name}",
            $"--S3:AccessKey={TestServers.S3AccessKey}",
            $"--S3:SecretKey={TestServers.S3SecretKey}",
            $"--Protection:Key={KafkaPipeline.Tests.TestProtection.Key}",
            // Replication slots are cluster-wide: one named after this test's database (dropped at the end).
            $"--Source:Slot={TestServers.DatabaseName(postgres)}",
        ];

        await using var generator = Generator.GeneratorApp.Create([.. common, "--Generator:RatePerSecond=20", $"--Generator:TotalCount={Users}"]);
        await using var source = SourceService.SourceApp.Create(common);
        await using var mysqlSink = MySqlSinkService.MySqlSinkApp.Create(common);
        await using var s3Sink = S3SinkService.S3SinkApp.Create(common);
        WebApplication[] apps = [source, mysqlSink, s3Sink, generator];
        foreach (var app in apps) await app.StartAsync();
        try
        {
            await Eventually.TrueAsync(async () => await CountMySqlAsync(mysql) == Users && await CountS3RecordsAsync(bucket) == Users,
                TimeSpan.FromSeconds(90), "all users in MySQL and S3");
        }
        finally
        {
            foreach (var app in apps) await app.StopAsync();
            await TestServers.DropReplicationSlotsAsync(postgres);
        }

        var inserts = spans.Where(s => s.OperationName == "generator insert").ToList();
        Assert.Equal(Users, inserts.Count);
        Assert.Equal(Users, inserts.Select(s => s.TraceId).Distinct().Count());
        foreach (var insert in inserts)
        {
            var trace = spans.Where(s => s.TraceId == insert.TraceId).ToList();
            var publish = Assert.Single(trace, s => s.OperationName == "source publish");
            Assert.Equal(insert.SpanId, publish.ParentSpanId);
            var write = Assert.Single(trace, s => s.OperationName == "mysql write");
            Assert.Equal(publish.SpanId, write.ParentSpanId);
            var put = Assert.Single(trace, s => s.OperationName == "s3 put");
            Assert.Equal(publish.SpanId, put.ParentSpanId);
            Assert.NotNull(publish.GetTagItem("messaging.kafka.message.key"));
        }

        // Metrics: counts that must match what happened, and a latency that is positive and below the test's wait.
        meters.RecordObservableInstruments();
        Assert.True(measurements.GetValueOrDefault("kafkapipeline.records.out") >= 3 * Users, "records out: generator + source + sinks");
        Assert.True(measurements.GetValueOrDefault("kafkapipeline.batch.size") >= Users);
        var latencyMax = measurements.GetValueOrDefault("kafkapipeline.e2e.latency.max");
        Assert.InRange(latencyMax, 0.001, 90_000);
        Assert.True(measurements.ContainsKey("kafkapipeline.consumer.lag"), "consumer lag gauge observed");
    }

    [Fact]
    public async Task Health_turns_unhealthy_while_kafka_is_down_and_healthy_when_it_returns()
    {
        using var kafka = EmbeddedKafkaCluster.Start();
        kafka.CreateTopic("P_USERS", 4);
        var postgres = await TestServers.CreatePostgresDatabaseAsync("health");
        await using var source = SourceService.SourceApp.Create(
            ["--urls=http://127.0.0.1:0", $"--ConnectionStrings:usersdb={postgres}", $"--ConnectionStrings:kafka={kafka.BootstrapServers}",
             $"--Source:Slot={TestServers.DatabaseName(postgres)}"]);
        await source.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(source.Urls.First()) };
        try
        {
            await Eventually.TrueAsync(async () => (await http.GetAsync("/health")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "healthy at start");

            kafka.SetBrokerDown(1);
            await Eventually.TrueAsync(async () => (int)(await http.GetAsync("/health")).StatusCode == 503, TimeSpan.FromSeconds(30), "unhealthy with the broker down");
            var body = await (await http.GetAsync("/health")).Content.ReadAsStringAsync();
            Assert.Contains("Unhealthy", body, StringComparison.Ordinal);
            Assert.True((await http.GetAsync("/alive")).IsSuccessStatusCode, "/alive only checks the process itself");

            kafka.SetBrokerUp(1);
            await Eventually.TrueAsync(async () => (await http.GetAsync("/health")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "healthy again");
        }
        finally
        {
            await source.StopAsync();
            await TestServers.DropReplicationSlotsAsync(postgres);
        }
    }

    private static async Task<long> CountMySqlAsync(string connectionString)
    {
        try
        {
            await using var conn = new MySqlConnection(connectionString);
            await conn.OpenAsync();
            await using var cmd = new MySqlCommand("SELECT count(*) FROM users", conn);
            return Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (MySqlException)
        {
            return 0; // table not created yet
        }
    }

    private static async Task<long> CountS3RecordsAsync(TestBucket bucket)
    {
        var list = await bucket.Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket.Name, Prefix = "topics/P_USERS/" });
        long records = 0;
        foreach (var o in list.S3Objects ?? [])
        {
            using var obj = await bucket.Client.GetObjectAsync(bucket.Name, o.Key);
            using var reader = new StreamReader(obj.ResponseStream);
            records += (await reader.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        }
        return records;
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class InProcessTelemetryCollection
{
    public const string Name = "in-process-telemetry";
}

internal static class Eventually
{
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out after {timeout} waiting for {what}");
            await Task.Delay(250);
        }
    }
}
