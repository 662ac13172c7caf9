using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace KafkaPipeline.IntegrationTests.Pipeline;

/// <summary>The heavy end-to-end tests run one at a time: each starts four .NET processes on a 2-core machine.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PipelineCollection
{
    public const string Name = "Pipeline end to end (one at a time)";
}

/// <summary>
/// One test's pipeline: its own PostgreSQL database, MySQL database, S3 bucket and embedded Kafka cluster (topic P_USERS
/// with 4 partitions and its DLQ), and the services as separate OS processes (so a kill is a real SIGKILL). Every
/// process ever started for the test writes its output live to the test output, prefixed by its name.
/// </summary>
public sealed class PipelineHarness : IAsyncDisposable
{
    public const string Topic = "P_USERS";
    public const string DeadLetterTopic = "P_USERS.dlq";
    public const int Partitions = 4;

    public const string Generator = "Generator";
    public const string Source = "SourceService";
    public const string MySqlSink = "MySqlSinkService";
    public const string S3Sink = "S3SinkService";

    private readonly ITestOutputHelper _output;
    private readonly Dictionary<string, ServiceProcess> _running = [];
    private readonly Dictionary<string, Dictionary<string, string?>> _settings = [];
    private readonly Dictionary<string, string> _services = [];
    private readonly List<ServiceProcess> _all = [];
    private readonly TestBucket _bucket;

    private PipelineHarness(ITestOutputHelper output, EmbeddedKafkaCluster cluster, string postgres, string mySql, TestBucket bucket)
    {
        _output = output;
        Cluster = cluster;
        Postgres = postgres;
        MySql = mySql;
        _bucket = bucket;
    }

    public EmbeddedKafkaCluster Cluster { get; }
    public string Bootstrap => Cluster.BootstrapServers;
    public string Postgres { get; }
    public string MySql { get; }
    public string Bucket => _bucket.Name;
    public Amazon.S3.IAmazonS3 S3 => _bucket.Client;

    public static async Task<PipelineHarness> StartAsync(ITestOutputHelper output, int brokers = 1, int replicationFactor = 1)
    {
        var postgres = await TestServers.CreatePostgresDatabaseAsync("pipe");
        var mySql = await TestServers.CreateMySqlDatabaseAsync("pipe");
        var bucket = await TestServers.CreateS3BucketAsync("pipe");
        var cluster = EmbeddedKafkaCluster.Start(brokers);
        try
        {
            cluster.CreateTopic(Topic, Partitions, replicationFactor);
            cluster.CreateTopic(DeadLetterTopic, 1, replicationFactor);
        }
        catch
        {
            cluster.Dispose();
            bucket.Dispose();
            throw;
        }
        output.WriteLine($"pipeline: kafka {cluster.BootstrapServers}, postgres db {Database(postgres)}, mysql db {Database(mySql)}, bucket {bucket.Name}");
        return new PipelineHarness(output, cluster, postgres, mySql, bucket);
    }

    /// <summary>Starts a service process with the pipeline's connection settings plus <paramref name="settings"/> (config keys, ':' or '__').</summary>
    public ServiceProcess Start(string service, params (string Key, string? Value)[] settings) => StartInstance(service, service, settings);

    /// <summary>
    /// Starts one instance of a service under its own name (e.g. "MySqlSinkService#2" for a second replica), which the
    /// other methods (<see cref="KillAsync"/>, <see cref="Restart"/>, the indexer) then take.
    /// </summary>
    public ServiceProcess StartInstance(string service, string instance, params (string Key, string? Value)[] settings)
    {
        if (_running.TryGetValue(instance, out var old) && !old.HasExited)
            throw new InvalidOperationException($"{instance} is already running (pid {old.Id})");
        var env = BaseEnvironment();
        foreach (var (key, value) in CommonSettings) env[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        foreach (var (key, value) in settings) env[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        _settings[instance] = env;
        _services[instance] = service;
        return Launch(instance, env);
    }

    /// <summary>Starts the service again with the settings of its last start, after replacing some (e.g. the generator's count).</summary>
    public ServiceProcess Restart(string service, params (string Key, string? Value)[] overrides)
    {
        if (_running.TryGetValue(service, out var old) && !old.HasExited)
            throw new InvalidOperationException($"{service} is still running (pid {old.Id}); kill it first");
        var env = new Dictionary<string, string?>(_settings[service]);
        foreach (var (key, value) in overrides) env[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        _settings[service] = env;
        return Launch(service, env);
    }

    public ServiceProcess this[string service] => _running[service];

    /// <summary>Settings every service started from now on gets (e.g. an OTLP endpoint).</summary>
    public Dictionary<string, string?> CommonSettings { get; } = [];

    /// <summary>SIGKILL: no shutdown code runs (no flush, no commit, no offset save), like a crash.</summary>
    public async Task KillAsync(string service)
    {
        var process = _running[service];
        process.Kill();
        await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
        _output.WriteLine($"pipeline: killed {service} (pid {process.Id}) at {DateTime.UtcNow:HH:mm:ss.fff}");
    }

    /// <summary>
    /// Starts both sinks and waits until each owns the topic's partitions (their log says so), so that the flow the test
    /// starts next really passes through running sinks rather than waiting for their first group join.
    /// </summary>
    public async Task StartSinksAsync()
    {
        var mySql = Start(MySqlSink, ("MySqlSink:SummaryInterval", "00:00:05"));
        var s3 = Start(S3Sink, ("S3Sink:SummaryInterval", "00:00:05"));
        await mySql.WaitForOutputAsync($"Opened {Topic} partition", TimeSpan.FromSeconds(90));
        await s3.WaitForOutputAsync($"Opened {Topic} partition", TimeSpan.FromSeconds(90));
    }

    public ServiceProcess StartGenerator(long totalCount, double ratePerSecond, int maxBatchSize = 1000, double updateFraction = 0) =>
        Start(Generator,
            ("Generator:TotalCount", totalCount.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("Generator:RatePerSecond", ratePerSecond.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("Generator:MaxBatchSize", maxBatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("Generator:UpdateFraction", updateFraction.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("Generator:SummaryInterval", "00:00:05"));

    public ServiceProcess StartSource(string mode) =>
        Start(Source, ("Source:Mode", mode));

    /// <summary>Waits for the generator to insert its total and stop by itself with exit code 0.</summary>
    public async Task WaitForGeneratorAsync(TimeSpan timeout)
    {
        var code = await _running[Generator].WaitForExitAsync(timeout);
        Assert.True(code == 0, $"Generator exited with {code}");
    }

    public void Log(string message) => _output.WriteLine($"pipeline {DateTime.UtcNow:HH:mm:ss.fff}: {message}");

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _all) await p.DisposeAsync();
        // Slots are cluster-wide and keep WAL: the test's own go with it.
        await TestServers.DropReplicationSlotsAsync(Postgres);
        Cluster.Dispose();
        _bucket.Dispose();
    }

    private ServiceProcess Launch(string instance, Dictionary<string, string?> env)
    {
        var process = ServiceProcess.Start(_services[instance], env, _output);
        process.Label = instance;
        _running[instance] = process;
        _all.Add(process);
        _output.WriteLine($"pipeline: started {instance} (pid {process.Id}) at {DateTime.UtcNow:HH:mm:ss.fff}");
        return process;
    }

    private Dictionary<string, string?> BaseEnvironment() => new()
    {
        ["ConnectionStrings__usersdb"] = Postgres,
        ["ConnectionStrings__kafka"] = Bootstrap,
        ["ConnectionStrings__emaildb"] = MySql,
        ["S3__ServiceUrl"] = TestServers.S3Url,
        ["S3__Bucket"] = Bucket,
        ["S3__AccessKey"] = TestServers.S3AccessKey,
        ["S3__SecretKey"] = TestServers.S3SecretKey,
        // Four web hosts on one machine: each on a free port of its own.
        ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
        ["DOTNET_ENVIRONMENT"] = "Production",
        ["ASPNETCORE_ENVIRONMENT"] = "Production",
        ["Protection__Key"] = KafkaPipeline.Tests.TestProtection.Key, // Production refuses the development key
        // One line per log entry, with a time, so interleaved service logs read well in the test output.
        ["Logging__Console__FormatterName"] = "simple",
        ["Logging__Console__FormatterOptions__SingleLine"] = "true",
        ["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ",
        ["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning",
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = null,
        // Replication slots are cluster-wide: one per test database (its unique name), not the default one.
        ["Source__Slot"] = TestServers.DatabaseName(Postgres),
    };

    private static string Database(string connectionString) =>
        connectionString.Split(';').FirstOrDefault(p => p.StartsWith("Database=", StringComparison.OrdinalIgnoreCase)) ?? "?";
}
