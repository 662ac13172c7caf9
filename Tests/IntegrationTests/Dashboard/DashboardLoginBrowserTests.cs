using KafkaPipeline.Benchmarks;
using KafkaPipeline.Dashboard;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace KafkaPipeline.IntegrationTests.Dashboard;

/// <summary>
/// The Dashboard's login as a person meets it, in headless chromium (Debian's): the bare URL shows the login page and
/// no customer data, the login URL the CEO page, the wall-screen link the CEO page but not the topic browser, and the
/// topic browser masks personal fields. Screenshots: TestResults/screenshots/.
/// </summary>
public sealed class DashboardLoginBrowserTests(ITestOutputHelper output)
{
    private static readonly float s_patience = (float)TimeSpan.FromMinutes(2).TotalMilliseconds;

    [Fact]
    public async Task The_login_page_shows_without_the_token_and_the_CEO_page_with_it()
    {
        await using var kit = new DashboardTestKit();
        var users = Enumerable.Range(1, 12).Select(i => DashboardTestKit.User(i)).ToList();
        kit.Kafka.ProduceUsers(users);
        var (_, url) = await kit.StartAsync();
        var origin = url.ToString().TrimEnd('/');

        await using (var chromium = await HeadlessChromium.LaunchAsync())
        {
            var page = await chromium.NewPageAsync(output.WriteLine);
            // The bare URL: the login page, nothing of the customers.
            await page.GotoAsync(origin + "/");
            Assert.EndsWith("/login", page.Url, StringComparison.Ordinal);
            await page.Locator("[data-testid=login]").WaitForAsync();
            var text = await page.Locator("body").InnerTextAsync();
            Assert.DoesNotContain("Quillon", text, StringComparison.Ordinal);
            Assert.Equal(0, await page.Locator("[data-testid=customer-count]").CountAsync());
            output.WriteLine("login page: " + await Screenshot(page, "dashboard-login-page"));

            // A wrong token stays on the login page; the token pasted into the form logs in.
            await page.GotoAsync(origin + "/login?t=wrong-token-of-some-length");
            await page.Locator("[data-testid=login-error]").WaitForAsync();
            await page.Locator("input[name=t]").FillAsync(DashboardTestKit.BrowserToken);
            await page.Locator("button[type=submit]").ClickAsync();
            await page.WaitForURLAsync(origin + "/");
            await page.WaitForFunctionAsync(
                "n => document.querySelector('[data-testid=customer-count]')?.dataset.value === String(n)", users.Count,
                new() { Timeout = s_patience, PollingInterval = 100 });
            await page.Locator("[data-testid=latest-signups] .who").Filter(new() { HasText = "Quillon1" }).First.WaitForAsync(new() { Timeout = s_patience });
            Assert.DoesNotContain("Vexmarsh", await page.Locator("body").InnerTextAsync(), StringComparison.Ordinal); // first names only
            output.WriteLine("CEO page: " + await Screenshot(page, "dashboard-ceo-page-after-login"));

            // The topic browser, logged in: personal fields masked on the page.
            await page.GotoAsync(origin + "/kafka/");
            await page.Locator("#messages tr[data-offset]").First.WaitForAsync(new() { Timeout = s_patience });
            var shown = await page.Locator("[data-testid=messages]").InnerTextAsync();
            Assert.Contains(MessageDisplay.Mask, shown, StringComparison.Ordinal);
            foreach (var u in users)
                Assert.False(shown.Contains(u.Name, StringComparison.Ordinal) || shown.Contains(u.Mail, StringComparison.Ordinal) || shown.Contains(u.Ssn, StringComparison.Ordinal),
                    $"the topic browser shows user {u.Id}'s personal data");
            output.WriteLine("topic browser: " + await Screenshot(page, "dashboard-topic-browser-masked"));
        }

        // The wall-screen link: the CEO page, and the topic browser refused.
        await using (var wall = await HeadlessChromium.LaunchAsync())
        {
            var page = await wall.NewPageAsync(output.WriteLine);
            await page.GotoAsync($"{origin}/login?t={DashboardTestKit.WallToken}");
            await page.WaitForURLAsync(origin + "/");
            await page.WaitForFunctionAsync(
                "n => document.querySelector('[data-testid=customer-count]')?.dataset.value === String(n)", users.Count,
                new() { Timeout = s_patience, PollingInterval = 100 });
            var kafka = await page.GotoAsync(origin + "/kafka/");
            Assert.Equal(403, kafka!.Status);
            Assert.DoesNotContain("Quillon", await page.Locator("body").InnerTextAsync(), StringComparison.Ordinal);
        }
    }

    /// <summary>Saves TestResults/screenshots/{name}.png of the integration tests' project.</summary>
    private static Task<string> Screenshot(IPage page, string name)
    {
        var bin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var project = bin.Parent?.Parent?.Parent;
        var results = project is not null && File.Exists(Path.Combine(project.FullName, "IntegrationTests.csproj"))
            ? Path.Combine(project.FullName, "TestResults") : Path.Combine(AppContext.BaseDirectory, "TestResults");
        return HeadlessChromium.ScreenshotAsync(page, Path.Combine(results, "screenshots", name + ".png"));
    }
}
