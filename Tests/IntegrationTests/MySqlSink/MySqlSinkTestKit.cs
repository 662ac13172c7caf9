using System.Globalization;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.IntegrationTests.Sinks;
using KafkaPipeline.MySqlSinkService;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Sinks;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MySqlConnector;

namespace KafkaPipeline.IntegrationTests.MySqlSink;

/// <summary>A row of the sink's table as read back.</summary>
internal sealed record StoredUser(UserRecord User, DateTime SyncedAt);

/// <summary>The MySQL sink's thin kit: its own database, the sink in-process, the table read back. Kafka: <see cref="SinkTestKit"/>.</summary>
internal sealed class MySqlSinkTestKit : IAsyncDisposable
{
    public const string GroupId = "mysql-sink";

    private MySqlSinkTestKit(string mySql) => MySql = mySql;

    public SinkTestKit Kafka { get; } = new();

    /// <summary>Connection string of this test's database (direct, not through any proxy).</summary>
    public string MySql { get; }

    public LogCapture Logs => Kafka.Logs;

    public static async Task<MySqlSinkTestKit> CreateAsync() => new(await TestServers.CreateMySqlDatabaseAsync("sink"));

    /// <summary>Starts MySqlSinkService in this process (as Program.cs does); by default it keeps every column (ExcludeColumns empty).</summary>
    /// <param name="tables">Pipeline:Tables, when not the default (users).</param>
    public Task<WebApplication> StartSinkAsync(IDictionary<string, string>? sinkSettings = null, string? mySql = null, string? tables = null) =>
        Kafka.StartAsync(MySqlSinkApp.Create(SinkArgs(mySql ?? MySql, Kafka.Bootstrap, sinkSettings, tables),
            services => services.AddSingleton<ILoggerProvider>(Logs)));

    public static string[] SinkArgs(string mySql, string bootstrap, IDictionary<string, string>? sinkSettings = null, string? tables = null)
    {
        var settings = new Dictionary<string, string> { ["ExcludeColumns"] = "", ["SummaryInterval"] = "00:00:02", ["RetryBackoffMax"] = "00:00:01" };
        foreach (var (key, value) in sinkSettings ?? new Dictionary<string, string>()) settings[key] = value;
        return
        [
            $"--ConnectionStrings:emaildb={mySql}",
            $"--ConnectionStrings:kafka={bootstrap}",
            $"--Protection:Key={KafkaPipeline.Tests.TestProtection.Key}",
            "--urls=http://127.0.0.1:0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:KafkaPipeline=Information",
            .. settings.Select(kv => $"--MySqlSink:{kv.Key}={kv.Value}"),
            .. tables is null ? Array.Empty<string>() : [$"--Pipeline:Tables={tables}"],
        ];
    }

    /// <summary>
    /// Produces users as the polling source does when no headers are given: op r, no LSN, the commit time its updated_at
    /// (what orders versions without an LSN).
    /// </summary>
    public List<Confluent.Kafka.DeliveryReport<byte[]?, byte[]?>> ProduceUsers(IEnumerable<UserRecord> users, Func<UserRecord, Confluent.Kafka.Headers?>? headers = null) =>
        Kafka.ProduceUsers(users, headers ?? Polled);

    public static Confluent.Kafka.Headers Polled(UserRecord u)
    {
        var headers = new Confluent.Kafka.Headers();
        ChangeHeaders.Write(headers, new ChangeMetadata(ChangeOp.Read, SourceVersion.None, u.UpdatedAt, Table: "public.users"));
        return headers;
    }

    public static SinkProgress Progress(WebApplication app) => app.Services.GetRequiredService<SinkProgress>();

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

    public static List<UserRecord> Users(int count, long firstId = 1, int version = 0) =>
        Enumerable.Range(0, count).Select(i => User(firstId + i, version)).ToList();

    /// <summary>The whole table (every column: the sink runs with no column excluded), ordered by id.</summary>
    public List<StoredUser> ReadTable(string table = "users")
    {
        using var conn = new MySqlConnection(MySql);
        conn.Open();
        using var cmd = new MySqlCommand(
            $"SELECT {string.Join(", ", UsersSchema.Columns.Select(SqlIdentifier.QuoteMySql))}, synced_at FROM {SqlIdentifier.QuoteMySql(table)} ORDER BY id", conn);
        using var reader = cmd.ExecuteReader();
        var rows = new List<StoredUser>();
        while (reader.Read()) rows.Add(new StoredUser(StoredUsers.FromMySql(reader), DateTime.SpecifyKind(reader.GetDateTime(13), DateTimeKind.Utc)));
        return rows;
    }

    public long CountRows(string table = "users") => Scalar($"SELECT COUNT(*) FROM {SqlIdentifier.QuoteMySql(table)}");

    public long Scalar(string sql)
    {
        using var conn = new MySqlConnection(MySql);
        conn.Open();
        using var cmd = new MySqlCommand(sql, conn);
        try
        {
            return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
        }
        catch (MySqlException e) when (e.Number == 1146)
        {
            return 0; // not created yet
        }
    }

    public Task WaitForRowsAsync(long expected, string table = "users") =>
        Kafka.WaitUntilAsync(() => CountRows(table) >= expected, () => $"{expected} rows in MySQL (now {CountRows(table)})");

    public Task WaitForCommittedToEndAsync() => Kafka.WaitForCommittedToEndAsync(GroupId);

    public Dictionary<int, long> Committed() => Kafka.Committed(GroupId);

    public static void AssertTableEquals(IEnumerable<UserRecord> expected, IEnumerable<StoredUser> actual)
    {
        var want = expected.OrderBy(u => u.Id).ToList();
        var got = actual.Select(r => r.User).ToList();
        Assert.Equal(want.Count, got.Count);
        for (var i = 0; i < want.Count; i++) Assert.Equal(want[i], got[i]); // every field, timestamps to the microsecond
    }

    public ValueTask DisposeAsync() => Kafka.DisposeAsync();
}
