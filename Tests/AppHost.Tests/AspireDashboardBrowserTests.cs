using Microsoft.Playwright;

namespace KafkaPipeline.AppHost.Tests;

// The Aspire dashboard of the local runtime in a real browser: Debian's chromium driven by Microsoft.Playwright
// (Playwright's own browser download cannot work on our machines). Screenshots: TestResults/*.png, two of them also
// docs/images/ (the ones docs/aspire.md shows).
[Collection(LocalRuntimeCollection.Name)]
public sealed class AspireDashboardBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly TimeSpan s_deadline = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task The_dashboard_shows_every_resource_running_and_healthy_and_one_trace_through_generator_source_and_both_sinks()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        var ct = cts.Token;
        await using var pipeline = await LocalPipeline.StartAsync(dashboard: true, ct, "--Generator:RatePerSecond=2");
        var login = await pipeline.App.GetDashboardUrlAsync(ct);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"], // Playwright gives it a fresh profile folder itself
        });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1600, Height = 1000 } });
        var origin = login.GetLeftPart(UriPartial.Authority);

        // Resources: one row per resource, each Running, none Unhealthy.
        await page.GotoAsync(login.ToString());
        await page.WaitForURLAsync(u => !u.Contains("/login", StringComparison.Ordinal));
        foreach (var name in LocalPipeline.Resources)
        {
            var row = ResourceRow(page, name);
            await Assertions.Expect(row).ToContainTextAsync("Running", new() { Timeout = 120_000 });
            await Assertions.Expect(row).Not.ToContainTextAsync("Unhealthy", new() { Timeout = 120_000 });
        }
        await page.ScreenshotAsync(new() { Path = Screenshot("dashboard-resources.png"), FullPage = true });
        KeepForDocs("dashboard-resources.png", "aspire-dashboard-resources.png");
        await File.WriteAllTextAsync(Screenshot("dashboard-resources.html"), await page.ContentAsync(), ct);

        // Traces: one trace (one user) with spans from all four services.
        await page.GotoAsync($"{origin}/traces");
        var trace = page.GetByRole(AriaRole.Row)
            .Filter(new() { HasText = "generator" })
            .Filter(new() { HasText = "source" })
            .Filter(new() { HasText = "mysql-sink" })
            .Filter(new() { HasText = "s3-sink" });
        await Assertions.Expect(trace.First).ToBeVisibleAsync(new() { Timeout = 180_000 });
        await File.WriteAllTextAsync(Screenshot("dashboard-traces.html"), await page.ContentAsync(), ct);
        await page.ScreenshotAsync(new() { Path = Screenshot("dashboard-traces.png"), FullPage = true });
        // The name cell's title carries the trace id; its detail page lists the spans by resource.
        var title = await trace.First.GetByRole(AriaRole.Gridcell).Filter(new() { HasText = "generator insert" }).GetAttributeAsync("title") ?? "";
        var traceId = title[(title.IndexOf("Trace Id:", StringComparison.Ordinal) + "Trace Id:".Length)..].Trim();
        await page.GotoAsync($"{origin}/traces/detail/{traceId}");
        foreach (var service in new[] { "generator", "source", "mysql-sink", "s3-sink" })
            await Assertions.Expect(page.GetByText(service, new() { Exact = true }).First).ToBeVisibleAsync();
        await page.ScreenshotAsync(new() { Path = Screenshot("dashboard-trace-detail.png"), FullPage = true });
        KeepForDocs("dashboard-trace-detail.png", "aspire-dashboard-trace.png");
    }

    // The Resources grid's row for a resource; matched on the whole name cell ("mysql" is not "mysql-sink").
    private static ILocator ResourceRow(IPage page, string name) =>
        page.GetByRole(AriaRole.Row).Filter(new()
        {
            Has = page.GetByRole(AriaRole.Gridcell).Filter(new() { HasTextRegex = new System.Text.RegularExpressions.Regex($"^\\s*{System.Text.RegularExpressions.Regex.Escape(name)}\\s*$") }),
        });

    private static string Screenshot(string file)
    {
        var dir = Path.Combine(LocalPipeline.RepositoryRoot(), "Tests", "AppHost.Tests", "TestResults");
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, file);
    }

    // The pictures the docs show (docs/images/) are the ones the last run of this test took.
    private static void KeepForDocs(string screenshot, string docsImage) =>
        File.Copy(Screenshot(screenshot), Path.Combine(LocalPipeline.RepositoryRoot(), "docs", "images", docsImage), overwrite: true);
}
