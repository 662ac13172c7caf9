using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.MySqlSinkService;
using KafkaPipeline.Shared;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MySqlConnector;

namespace KafkaPipeline.IntegrationTests.MySqlSink;

/// <summary>A row of the sink's table as read back.</summary>
internal sealed record StoredUser(UserRecord User, DateTime SyncedAt);

/// <summary>One test's world: an embedded Kafka with P_USERS (4 partitions) and P_USERS.dlq, and its own MySQL database.</summary>
internal sealed class MySqlSinkTestKit : IAsyncDisposable
{
    public const string Topic = "P_USERS";
    public const string DeadLetterTopic = "P_USERS.dlq";
    public const int Partitions = 4;
    public const string GroupId = "mysql-sink";
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    private readonly List<WebApplication> _apps = [];

    private MySqlSinkTestKit(EmbeddedKafkaCluster kafka, string mySql)
    {
        Kafka = kafka;
        MySql = mySql;
        Producer = new ProducerBuilder<byte[]?, byte[]?>(KafkaSettings.Producer(kafka.BootstrapServers, "mysql-sink-test"))
            .SetLogHandler((_, _) => { }).Build();
    }

    public EmbeddedKafkaCluster Kafka { get; }
    public string Bootstrap => Kafka.BootstrapServers;

    /// <summary>Connection string of this test's database (direct, not through any proxy).</summary>
    public string MySql { get; }

    public IProducer<byte[]?, byte[]?> Producer { get; }
    public LogCapture Logs { get; } = new();

    public static async Task<MySqlSinkTestKit> CreateAsync()
    {
        var mySql = await TestServers.CreateMySqlDatabaseAsync("sink");
        var kafka = EmbeddedKafkaCluster.Start();
        kafka.CreateTopic(Topic, Partitions);
        kafka.CreateTopic(DeadLetterTopic, 1);
        return new MySqlSinkTestKit(kafka, mySql);
    }

    /// <summary>Starts MySqlSinkService in this process (as Program.cs does), with its settings given as command-line args.</summary>
    public async Task<WebApplication> StartSinkAsync(IDictionary<string, string>? sinkSettings = null, string? mySql = null)
    {
        var app = MySqlSinkApp.Create(SinkArgs(mySql ?? MySql, Bootstrap, sinkSettings),
            services => services.AddSingleton<ILoggerProvider>(Logs));
        _apps.Add(app);
        await app.StartAsync();
        return app;
    }

    public static string[] SinkArgs(string mySql, string bootstrap, IDictionary<string, string>? sinkSettings = null)
    {
        var args = new List<string>
        {
            $"--ConnectionStrings:emaildb={mySql}",
            $"--ConnectionStrings:kafka={bootstrap}",
            "--urls=http://127.0.0.1:0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:KafkaPipeline=Information",
            "--MySqlSink:SummaryInterval=00:00:02",
        };
        foreach (var (key, value) in sinkSettings ?? new Dictionary<string, string>())
            args.Add($"--MySqlSink:{key}={value}");
        return [.. args];
    }

    public static MySqlSinkProgress Progress(WebApplication app) => app.Services.GetRequiredService<MySqlSinkProgress>();

    /// <summary>Deterministic users with text MySQL must keep byte for byte (4-byte UTF-8, quotes, backslash, newline).</summary>
    public static UserRecord User(long id, int version = 0)
    {
        // PostgreSQL timestamps have microseconds: so do these (DATETIME(6) holds exactly that).
        var updated = new DateTime(2025, 3, 1, 8, 0, 0, DateTimeKind.Utc).AddTicks(id * 10_000_010 + version * 70);
        return new UserRecord
        {
            Id = id,
            Name = $"Zoë O'Brien-{id} 😀 東京" + (version > 0 ? $" v{version}" : ""),
            Username = $"user{id}",
            Sex = id % 2 == 0 ? "F" : "M",
            Address = $"{id} Rue de l'Église\nApt \"{id % 7}\" \\ back",
            Mail = $"user{id}@example.com",
            Birthdate = new DateOnly(1950, 1, 1).AddDays((int)(id % 20_000)),
            Job = "Engineer",
            Company = "ACME `Quotes` & Co",
            Ssn = $"{id % 1000:D3}-{id % 100:D2}-{id % 10_000:D4}",
            Residence = $"Flat {id}, 10 Downing Street",
            CreatedAt = updated.AddDays(-1),
            UpdatedAt = updated,
        };
    }

    /// <summary>Produces values keyed by id (partition = murmur2 % 4, as the source does); returns their delivery reports.</summary>
    public List<DeliveryReport<byte[]?, byte[]?>> Produce(IEnumerable<(long Key, byte[] Value)> messages, Func<long, Headers?>? headers = null)
    {
        var reports = new List<DeliveryReport<byte[]?, byte[]?>>();
        foreach (var (key, value) in messages)
        {
            var keyBytes = Encoding.UTF8.GetBytes(key.ToString(CultureInfo.InvariantCulture));
            var partition = Murmur2Partitioner.Partition(keyBytes, Partitions);
            while (true)
            {
                try
                {
                    Producer.Produce(new TopicPartition(Topic, partition),
                        new Message<byte[]?, byte[]?> { Key = keyBytes, Value = value, Headers = headers?.Invoke(key) }, r =>
                        {
                            lock (reports) reports.Add(r);
                        });
                    break;
                }
                catch (ProduceException<byte[]?, byte[]?> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                {
                    Producer.Poll(TimeSpan.FromMilliseconds(20));
                }
            }
        }
        Producer.Flush(Patience);
        lock (reports)
        {
            Assert.DoesNotContain(reports, r => r.Error.IsError);
            return [.. reports];
        }
    }

    public List<DeliveryReport<byte[]?, byte[]?>> ProduceUsers(IEnumerable<UserRecord> users) =>
        Produce(users.Select(u => (u.Id, UserRecordJson.Serialize(u))));

    /// <summary>The whole table, ordered by id.</summary>
    public List<StoredUser> ReadTable(string table = "users")
    {
        using var conn = new MySqlConnection(MySql);
        conn.Open();
        using var cmd = new MySqlCommand(
            $"SELECT id, name, username, sex, address, mail, birthdate, job, company, ssn, residence, created_at, updated_at, synced_at FROM {SqlIdentifier.QuoteMySql(table)} ORDER BY id",
            conn);
        using var reader = cmd.ExecuteReader();
        var rows = new List<StoredUser>();
        while (reader.Read())
        {
            rows.Add(new StoredUser(StoredUsers.FromMySql(reader), DateTime.SpecifyKind(reader.GetDateTime(13), DateTimeKind.Utc)));
        }
        return rows;
    }

    public long CountRows(string table = "users")
    {
        using var conn = new MySqlConnection(MySql);
        conn.Open();
        using var cmd = new MySqlCommand($"SELECT COUNT(*) FROM {SqlIdentifier.QuoteMySql(table)}", conn);
        try
        {
            return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
        }
        catch (MySqlException e) when (e.Number == 1146)
        {
            return 0; // not created yet
        }
    }

    public async Task WaitForRowsAsync(long expected, string table = "users")
    {
        var deadline = DateTime.UtcNow + Patience;
        long count;
        while ((count = CountRows(table)) < expected)
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"only {count} of {expected} rows in MySQL after {Patience}\n{Logs.Text}");
            await Task.Delay(100);
        }
        Assert.Equal(expected, count);
    }

    /// <summary>The group's committed offsets per partition (0 when none), read without joining the group.</summary>
    public Dictionary<int, long> Committed()
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
        {
            BootstrapServers = Bootstrap,
            GroupId = GroupId,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();
        var partitions = Enumerable.Range(0, Partitions).Select(p => new TopicPartition(Topic, p)).ToList();
        return consumer.Committed(partitions, TimeSpan.FromSeconds(10))
            .ToDictionary(o => o.Partition.Value, o => o.Offset.Value < 0 ? 0 : o.Offset.Value);
    }

    public async Task<Dictionary<int, long>> HighWatermarksAsync() =>
        (await EmbeddedKafkaCluster.GetWatermarksAsync(Bootstrap, Topic)).ToDictionary(w => w.Partition, w => w.High);

    /// <summary>Waits until the committed offsets reach the end of every partition: everything consumed is accounted for.</summary>
    public async Task WaitForCommittedToEndAsync()
    {
        var high = await HighWatermarksAsync();
        Assert.Equal(Partitions, high.Count);
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var committed = Committed();
            if (high.All(h => committed.GetValueOrDefault(h.Key) == h.Value)) return;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"committed {string.Join(",", committed.OrderBy(c => c.Key))} never reached {string.Join(",", high.OrderBy(h => h.Key))}\n{Logs.Text}");
            await Task.Delay(200);
        }
    }

    /// <summary>Every message of the dead-letter topic (1 partition).</summary>
    public List<ConsumeResult<byte[]?, byte[]?>> ReadDeadLetters(int expected)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = Bootstrap,
            GroupId = "dlq-reader-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Assign(new TopicPartitionOffset(DeadLetterTopic, 0, Offset.Beginning));
        var result = new List<ConsumeResult<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow + Patience;
        while (result.Count < expected && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(500)) is { IsPartitionEOF: false } r) result.Add(r);
        }
        // Anything more than expected would be a defect as well: read on briefly.
        while (consumer.Consume(TimeSpan.FromSeconds(1)) is { IsPartitionEOF: false } extra) result.Add(extra);
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps)
        {
            try
            {
                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                await app.StopAsync(stop.Token);
            }
            catch (Exception)
            {
                // a failed start or stop must not hide the test's own result
            }
            await app.DisposeAsync();
        }
        Producer.Dispose();
        Kafka.Dispose();
    }
}

/// <summary>Collects the sink's log lines so tests can assert what it said (and print it when they fail).</summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<(LogLevel Level, string Category, string Message)> _lines = new();

    public IReadOnlyList<(LogLevel Level, string Category, string Message)> Lines => [.. _lines];

    public string Text => string.Join('\n', _lines.Select(l => $"{l.Level}: {l.Message}"));

    public bool Contains(LogLevel level, string text) =>
        _lines.Any(l => l.Level == level && l.Message.Contains(text, StringComparison.Ordinal));

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel) && category.StartsWith("KafkaPipeline", StringComparison.Ordinal))
                owner._lines.Enqueue((logLevel, category, formatter(state, exception) + (exception is null ? "" : " | " + exception.Message)));
        }
    }
}

/// <summary>
/// A TCP forwarder to MariaDB that the test can take down and bring back: the shared test server cannot be stopped,
/// but the sink only sees this port, so stopping the proxy is MySQL going away (refused connects, dropped sessions).
/// </summary>
internal sealed class TcpProxy : IAsyncDisposable
{
    private readonly IPEndPoint _target;
    private readonly ConcurrentDictionary<Socket, byte> _open = new();
    private TcpListener? _listener;
    private CancellationTokenSource? _cts;

    public TcpProxy(string host, int targetPort)
    {
        _target = new IPEndPoint(IPAddress.Parse(host), targetPort);
        // Reserve a free port once; it is reused on every Start.
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
    }

    public int Port { get; }

    public static TcpProxy ForMySql(string connectionString)
    {
        var b = new MySqlConnectionStringBuilder(connectionString);
        return new TcpProxy(b.Server == "localhost" ? "127.0.0.1" : b.Server, (int)b.Port);
    }

    public string Rewrite(string connectionString) =>
        new MySqlConnectionStringBuilder(connectionString) { Server = "127.0.0.1", Port = (uint)Port }.ConnectionString;

    public void Start()
    {
        _cts = new CancellationTokenSource();
        _listener = new TcpListener(IPAddress.Loopback, Port);
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start();
        _ = AcceptLoopAsync(_listener, _cts.Token);
    }

    /// <summary>Refuses new connections and cuts every open one.</summary>
    public void Stop()
    {
        _cts?.Cancel();
        _listener?.Stop();
        foreach (var socket in _open.Keys)
        {
            try
            {
                socket.Close(0);
            }
            catch (ObjectDisposedException)
            {
            }
        }
        _open.Clear();
    }

    private async Task AcceptLoopAsync(TcpListener listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptSocketAsync(ct);
            }
            catch (Exception)
            {
                return;
            }
            _ = PipeAsync(client, ct);
        }
    }

    private async Task PipeAsync(Socket client, CancellationToken ct)
    {
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _open[client] = 0;
        _open[server] = 0;
        try
        {
            await server.ConnectAsync(_target, ct);
            using var a = new NetworkStream(client, ownsSocket: true);
            using var b = new NetworkStream(server, ownsSocket: true);
            await Task.WhenAny(a.CopyToAsync(b, ct), b.CopyToAsync(a, ct));
        }
        catch (Exception)
        {
            // cut by Stop, or the other side closed
        }
        finally
        {
            _open.TryRemove(client, out _);
            _open.TryRemove(server, out _);
            client.Dispose();
            server.Dispose();
        }
    }

    public ValueTask DisposeAsync()
    {
        Stop();
        _cts?.Dispose();
        return ValueTask.CompletedTask;
    }
}
