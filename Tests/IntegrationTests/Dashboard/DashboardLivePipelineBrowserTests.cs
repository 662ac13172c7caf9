using System.Globalization;
using System.Net;
using System.Net.Sockets;
using KafkaPipeline.Benchmarks;
using KafkaPipeline.Dashboard;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.IntegrationTests.Pipeline;
using KafkaPipeline.SourceService;
using Microsoft.Playwright;
using Npgsql;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Dashboard;

/// <summary>
/// The Dashboard as a separate process on the real pipeline (PostgreSQL, the embedded Kafka, the SourceService and both
/// sinks), looked at in headless chromium: what the page shows is compared with what PostgreSQL holds.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class DashboardLivePipelineBrowserTests(ITestOutputHelper output)
{
    private const string DashboardService = "Dashboard";
    private static readonly float s_patience = (float)TimeSpan.FromMinutes(3).TotalMilliseconds;

    [Fact]
    public async Task The_CEO_page_and_the_topic_browser_show_the_pipeline_live_and_recover_after_a_restart()
    {
        // The CDC source: deletes reach Kafka (the polling modes cannot see them).
        await using var h = await PipelineHarness.StartAsync(output);
        await h.StartSinksAsync();
        h.StartSource("Cdc");
        h.StartGenerator(totalCount: 3_000, ratePerSecond: 3_000, maxBatchSize: 500);
        await h.WaitForGeneratorAsync(PipelineConvergence.Patience);
        await PipelineConvergence.WaitForTopicAsync(h);

        var url = $"http://127.0.0.1:{FreePort()}";
        var dashboard = h.Start(DashboardService, ("ASPNETCORE_URLS", url), ("Dashboard:PushInterval", "00:00:00.250"),
            ("Dashboard:BrowserToken", DashboardTestKit.BrowserToken));
        await dashboard.WaitForOutputAsync("Now listening on", TimeSpan.FromMinutes(1));

        await using var chromium = await HeadlessChromium.LaunchAsync();
        var page = await chromium.NewPageAsync(h.Log);
        await page.GotoAsync($"{url}/login?t={DashboardTestKit.BrowserToken}"); // the cookie serves every page of this browser
        await page.WaitForURLAsync(url + "/");

        // 1. The count equals PostgreSQL's, the top country and every country on the map hold PostgreSQL's numbers.
        await WaitForCountAsync(page, await PostgresCountAsync(h.Postgres));
        var perCountry = await CountriesAsync(h.Postgres);
        var codes = CountryCodes.Load(Path.Combine(AppContext.BaseDirectory, "countries"));
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#map path.country[data-customers]').length > 100",
            null, new() { Timeout = s_patience });
        var shapes = await page.EvaluateAsync<ShapeOnMap[]>(
            "() => [...document.querySelectorAll('#map path.country')].map(p => ({ iso: p.dataset.iso, customers: Number(p.dataset.customers ?? 0), fill: p.getAttribute('fill') }))");
        var onMap = shapes.Where(s => s.Iso.Length > 0).GroupBy(s => s.Iso).ToDictionary(g => g.Key, g => g.First());
        var checkedCountries = 0;
        foreach (var (country, n) in perCountry)
        {
            if (codes.Numeric(country) is not { } iso || !onMap.TryGetValue(iso, out var shape)) continue;
            Assert.True(shape.Customers == n, $"{country} ({iso}): the map says {shape.Customers}, PostgreSQL {n}");
            Assert.StartsWith("rgb(", shape.Fill, StringComparison.Ordinal); // coloured, not the empty-land colour
            checkedCountries++;
        }
        Assert.True(checkedCountries > 150, $"only {checkedCountries} countries of PostgreSQL were found on the map");
        Assert.Contains(shapes, s => s.Fill == "var(--land-empty)"); // and a country without customers is not coloured
        var top = perCountry.MaxBy(c => c.Value).Value;
        Assert.Equal(top.ToString("N0", CultureInfo.InvariantCulture),
            await page.Locator("[data-testid=top-countries] li .num").First.EvaluateAsync<string>("e => e.firstChild.textContent"));
        h.Log($"CEO page: {perCountry.Values.Sum()} customers, {checkedCountries} countries checked on the map; screenshot " +
              await Screenshot(page, "dashboard-ceo-page", docsImage: "dashboard-ceo.png"));

        // 2. A user inserted in PostgreSQL appears (count and latest sign-ups), and a deleted one disappears.
        var zelda = await InsertUserAsync(h.Postgres, "Zelda Quartz", "Iceland");
        await WaitForCountAsync(page, await PostgresCountAsync(h.Postgres));
        await WaitForSignupAsync(page, "Zelda", present: true);
        Assert.Equal("Iceland", await page.Locator("[data-testid=latest-signups] li").First.Locator(".where").TextContentAsync());
        await DeleteUserAsync(h.Postgres, zelda);
        await WaitForCountAsync(page, await PostgresCountAsync(h.Postgres));
        await WaitForSignupAsync(page, "Zelda", present: false);
        var latency = await page.Locator("[data-testid=latency]").TextContentAsync();
        Assert.Matches(@"^[\d,.]+ (ms|s)$", latency);
        h.Log($"latency on screen for the last insert: {latency}");

        // 3. The page recovers by itself after the Dashboard restarts (no reload): it reconnects, replays and catches up.
        await h.KillAsync(DashboardService);
        await page.Locator("[data-testid=connection]").Filter(new() { HasText = "Reconnecting" }).WaitForAsync(new() { Timeout = s_patience });
        await InsertUserAsync(h.Postgres, "Yannick Restart", "Portugal");
        var restarted = h.Restart(DashboardService);
        await restarted.WaitForOutputAsync("Now listening on", TimeSpan.FromMinutes(1));
        await page.Locator("[data-testid=connection]").Filter(new() { HasText = "Live" }).WaitForAsync(new() { Timeout = s_patience });
        await WaitForCountAsync(page, await PostgresCountAsync(h.Postgres));
        await WaitForSignupAsync(page, "Yannick", present: true);
        await Screenshot(page, "dashboard-ceo-page-after-restart");

        // 4. The topic browser: with the MySQL sink stopped its lag grows; restarted, every group's lag falls to 0.
        var kafka = await chromium.NewPageAsync(h.Log);
        await kafka.GotoAsync(url + "/kafka"); // redirected to /kafka/
        await h.KillAsync(PipelineHarness.MySqlSink);
        for (var i = 0; i < 20; i++) await InsertUserAsync(h.Postgres, $"Lag{i} Test", "Chile");
        await kafka.WaitForFunctionAsync(
            "() => [...document.querySelectorAll('#groups tr[data-group=\"mysql-sink\"]')].some(r => Number(r.dataset.lag) > 0)",
            null, new() { Timeout = s_patience, PollingInterval = 500 });
        await Screenshot(kafka, "kafka-browser-lag");
        h.Restart(PipelineHarness.MySqlSink);
        await kafka.WaitForFunctionAsync(
            """
            () => ['mysql-sink', 's3-sink'].every(g => {
              const rows = [...document.querySelectorAll(`#groups tr[data-group="${g}"][data-topic="P_USERS"]`)];
              return rows.length === 4 && rows.every(r => r.dataset.lag === '0');
            })
            """, null, new() { Timeout = s_patience, PollingInterval = 500 });
        Assert.Equal((await PostgresCountAsync(h.Postgres)).ToString("N0", CultureInfo.InvariantCulture),
            await page.Locator("[data-testid=customer-count]").TextContentAsync());

        // Messages are shown with the personal fields masked: never an ssn, a name or a mail address in clear.
        await kafka.Locator("#messages tr[data-offset]").First.WaitForAsync(new() { Timeout = s_patience });
        var shown = await kafka.Locator("[data-testid=messages]").InnerTextAsync();
        Assert.Contains(MessageDisplay.Mask, shown, StringComparison.Ordinal);
        var stored = (await PostgresUsersAsync(h.Postgres)).Values.ToList();
        Assert.DoesNotContain(stored.Select(u => u.Ssn), shown.Contains);
        Assert.DoesNotContain(stored.Select(u => u.Mail), shown.Contains);
        Assert.DoesNotContain(stored.Select(u => u.Name), shown.Contains);
        h.Log("topic browser: lag 0 for mysql-sink and s3-sink on every partition; screenshot " +
              await Screenshot(kafka, "kafka-browser"));
    }

    /// <summary>A path of the map as the page drew it (Playwright fills it by property name).</summary>
    private sealed class ShapeOnMap
    {
        public string Iso { get; set; } = "";
        public long Customers { get; set; }
        public string Fill { get; set; } = "";
    }

    /// <summary>
    /// Saves TestResults/screenshots/{name}.png beside ./test.sh's results.trx (Tests/IntegrationTests/TestResults), and
    /// as docs/images/{docsImage} when given, so the picture the docs show is the one the last run of this test took.
    /// </summary>
    private static async Task<string> Screenshot(IPage page, string name, string? docsImage = null)
    {
        var bin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var project = bin.Parent?.Parent?.Parent; // bin/<Config>/<tfm> -> the project's folder
        var inRepository = project is not null && File.Exists(Path.Combine(project.FullName, "IntegrationTests.csproj"));
        var results = inRepository ? Path.Combine(project!.FullName, "TestResults") : Path.Combine(AppContext.BaseDirectory, "TestResults");
        var path = await HeadlessChromium.ScreenshotAsync(page, Path.Combine(results, "screenshots", name + ".png"));
        if (docsImage is not null && inRepository)
            File.Copy(path, Path.Combine(project!.Parent!.Parent!.FullName, "docs", "images", docsImage), overwrite: true);
        return path;
    }

    private static async Task WaitForCountAsync(IPage page, long expected) =>
        await page.WaitForFunctionAsync(
            "n => document.querySelector('[data-testid=customer-count]')?.dataset.value === String(n)", expected,
            new() { Timeout = s_patience, PollingInterval = 100 });

    private static async Task WaitForSignupAsync(IPage page, string firstName, bool present) =>
        await page.WaitForFunctionAsync(
            "([name, present]) => [...document.querySelectorAll('[data-testid=latest-signups] .who')].some(e => e.textContent === name) === present",
            new object[] { firstName, present }, new() { Timeout = s_patience, PollingInterval = 100 });

    private static async Task<Dictionary<string, long>> CountriesAsync(string postgres)
    {
        await using var conn = new NpgsqlConnection(postgres);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT residence, count(*) FROM users GROUP BY residence", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        var result = new Dictionary<string, long>();
        while (await reader.ReadAsync()) result[reader.GetString(0)] = reader.GetInt64(1);
        return result;
    }

    private static async Task<long> InsertUserAsync(string postgres, string name, string country)
    {
        await using var conn = new NpgsqlConnection(postgres);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            """
            INSERT INTO users (name, username, sex, address, mail, birthdate, job, company, ssn, residence)
            VALUES (@name, 'dashboard.test', 'F', '1 Test Road', 'dashboard.test@example.com', '1990-01-01', 'Tester', 'Test Co',
                    '999-12-3456', @country)
            RETURNING id
            """, conn);
        cmd.Parameters.AddWithValue("name", name);
        cmd.Parameters.AddWithValue("country", country);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task DeleteUserAsync(string postgres, long id)
    {
        await using var conn = new NpgsqlConnection(postgres);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("DELETE FROM users WHERE id = @id", conn);
        cmd.Parameters.AddWithValue("id", id);
        Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
