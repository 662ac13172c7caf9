using System.Text;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using KafkaPipeline.Shared;
using MySqlConnector;
using Npgsql;

namespace KafkaPipeline.AppHost.Tests;

// The AppHost as ./run.sh and F5 start it (local runtime), followed end to end, then stopped.
[Collection(LocalRuntimeCollection.Name)]
public sealed class LocalRuntimeEndToEndTests
{
    // Bounds a hung run on a loaded 2-core machine; not a speed assertion.
    private static readonly TimeSpan s_deadline = TimeSpan.FromMinutes(8);

    [Fact]
    public async Task Every_resource_turns_healthy_generated_users_reach_MySQL_and_S3_and_stopping_leaves_no_process()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        var ct = cts.Token;
        var pipeline = await LocalPipeline.StartAsync(dashboard: false, ct, "--Generator:RatePerSecond=20");
        HashSet<int> processes;
        await using (pipeline)
        {
            var postgres = (await pipeline.App.GetConnectionStringAsync("usersdb", ct))!;
            var mysql = (await pipeline.App.GetConnectionStringAsync("emaildb", ct))!;
            var s3Options = new S3Options();
            s3Options.ApplyConnectionString((await pipeline.App.GetConnectionStringAsync("s3", ct))!);

            // The first 20 users PostgreSQL holds, then the same users (same ids and mails) in MySQL and in the lake.
            var users = await Eventually(() => FirstUsersAsync(postgres, 20, ct), u => u.Count == 20, ct);
            var inMySql = await Eventually(() => MySqlUsersAsync(mysql, users.Keys, ct), u => u.Count == users.Count, ct);
            Assert.Equal(users, inMySql);
            using var s3 = s3Options.CreateClient();
            var lake = await Eventually(() => LakeTextAsync(s3, s3Options.Bucket, ct), text => users.Values.All(text.Contains), ct);
            foreach (var id in users.Keys) Assert.Contains($"\"id\":{id},", lake, StringComparison.Ordinal);

            // The Dashboard, a resource like the others, serves its page and counts the customers Kafka carries.
            // Behind its login: the browser token the AppHost generated opens it (a cookie), as the login link does.
            var token = pipeline.App.Services.GetRequiredService<DistributedApplicationModel>().Resources.OfType<ParameterResource>()
                .Single(p => p.Name == "dashboard-token");
            using var dashboard = new HttpClient(new HttpClientHandler { CookieContainer = new System.Net.CookieContainer() })
            {
                BaseAddress = pipeline.App.GetEndpoint("dashboard", "http"),
            };
            using (var login = await dashboard.GetAsync($"/login?t={Uri.EscapeDataString((await token.GetValueAsync(ct))!)}", ct)) login.EnsureSuccessStatusCode();
            Assert.Contains("data-testid=\"customer-count\"", await dashboard.GetStringAsync("/", ct), StringComparison.Ordinal);
            await Eventually(async () =>
            {
                using var view = System.Text.Json.JsonDocument.Parse(await dashboard.GetStringAsync("/api/dashboard/snapshot", ct));
                return view.RootElement.GetProperty("customers").GetInt64();
            }, customers => customers >= users.Count, ct);

            processes = pipeline.ProcessTree();
            // 4 servers and 5 services at least (services run under `dotnet run`, so their trees are deeper).
            Assert.True(processes.Count >= 9, $"only {processes.Count} processes found for the resources");

            // The `dotnet run` launcher of the MySQL sink dies alone: the sink itself lives on, no longer DCP's to stop.
            var launcher = pipeline.ProcessIdOf("mysql-sink");
            Assert.Contains(processes, p => p != launcher && LocalPipeline.ParentOf(p) == launcher);
            using (var kill = System.Diagnostics.Process.Start("kill", ["-KILL", launcher.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync(ct);
        }

        // Stopped: none of those processes is left (the orphaned sink included), and nothing still runs on the test's data folder.
        var left = await Eventually(() => Task.FromResult(processes.Where(LocalPipeline.Alive).ToList()), l => l.Count == 0, ct);
        Assert.Empty(left);
        Assert.DoesNotContain(Directory.EnumerateDirectories("/proc").Select(CommandLine), c => c.Contains(pipeline.DataDirectory, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_missing_server_program_stops_the_AppHost_at_once_naming_it_and_its_install_command()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            LocalPipeline.StartAsync(dashboard: false, cts.Token, "--LocalRuntime:MariaDbServer=/nonexistent/mariadbd"));

        var message = RuntimeModelTests.Flatten(error);
        Assert.Contains("MariaDB server (/nonexistent/mariadbd)", message, StringComparison.Ordinal);
        Assert.Contains("eng/install.sh", message, StringComparison.Ordinal);
        Assert.False(cts.IsCancellationRequested, "the AppHost waited instead of stopping");
    }

    private static async Task<Dictionary<long, string>> FirstUsersAsync(string connectionString, int count, CancellationToken ct)
    {
        var users = new Dictionary<long, string>();
        try
        {
            await using var conn = new NpgsqlConnection(connectionString);
            await conn.OpenAsync(ct);
            await using var cmd = new NpgsqlCommand($"SELECT id, mail FROM users ORDER BY id LIMIT {count}", conn);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) users[reader.GetInt64(0)] = reader.GetString(1);
        }
        catch (PostgresException e) when (e.SqlState == "42P01") { } // the generator has not created the table yet
        return users;
    }

    private static async Task<Dictionary<long, string>> MySqlUsersAsync(string connectionString, IEnumerable<long> ids, CancellationToken ct)
    {
        var users = new Dictionary<long, string>();
        try
        {
            await using var conn = new MySqlConnection(connectionString);
            await conn.OpenAsync(ct);
            await using var cmd = new MySqlCommand($"SELECT id, mail FROM users WHERE id IN ({string.Join(',', ids)})", conn);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) users[reader.GetInt64(0)] = reader.GetString(1);
        }
        catch (MySqlException e) when (e.Number == 1146) { } // the sink has not created the table yet
        return users;
    }

    /// <summary>Every stored object of the topic, read back and concatenated.</summary>
    private static async Task<string> LakeTextAsync(Amazon.S3.IAmazonS3 s3, string bucket, CancellationToken ct)
    {
        var text = new StringBuilder();
        var listing = await s3.ListObjectsV2Async(new() { BucketName = bucket, Prefix = "topics/P_USERS/" }, ct);
        foreach (var o in listing.S3Objects ?? [])
        {
            using var response = await s3.GetObjectAsync(bucket, o.Key, ct);
            using var reader = new StreamReader(response.ResponseStream);
            text.Append(await reader.ReadToEndAsync(ct));
        }
        return text.ToString();
    }

    private static string CommandLine(string procDirectory)
    {
        try
        {
            return File.ReadAllText(Path.Combine(procDirectory, "cmdline")).Replace('\0', ' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    internal static async Task<T> Eventually<T>(Func<Task<T>> read, Func<T, bool> done, CancellationToken ct)
    {
        while (true)
        {
            var value = await read();
            if (done(value) || ct.IsCancellationRequested) return value;
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }
}

/// <summary>Tests that start the whole local runtime run one at a time (2 shared cores).</summary>
[CollectionDefinition(Name)]
public sealed class LocalRuntimeCollection
{
    public const string Name = "local runtime";
}
