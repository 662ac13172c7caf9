using System.Net;
using KafkaPipeline.Dashboard;
using KafkaPipeline.IntegrationTests.Sinks;
using KafkaPipeline.Shared;
using KafkaPipeline.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KafkaPipeline.IntegrationTests.Dashboard;

/// <summary>
/// The Dashboard in this process on an embedded Kafka (P_USERS and its dead-letter topic), with users of its own in the
/// topic, as the login and topic browser tests need it: no PostgreSQL, no source.
/// </summary>
internal sealed class DashboardTestKit : IAsyncDisposable
{
    public const string BrowserToken = "browser-token-of-the-dashboard-tests";
    public const string WallToken = "wall-token-of-the-dashboard-tests-0";

    public SinkTestKit Kafka { get; } = new();

    /// <summary>Users whose every personal field is distinctive, so a test can look for any of them in what is shown.</summary>
    public static UserRecord User(long id) => new()
    {
        Id = id,
        Name = $"Quillon{id} Vexmarsh",
        Username = $"quillon.vex{id}",
        Sex = "F",
        Address = $"{id} Harbourgate Lane, Tovik",
        Mail = $"quillon{id}@mail.example",
        Birthdate = new DateOnly(1984, 3, 7),
        Job = "Cartographer",
        Company = "Northwind Mapping",
        Ssn = $"555-{id % 100:D2}-{id:D4}",
        Residence = id % 2 == 0 ? "Iceland" : "Chile",
        CreatedAt = DateTime.UtcNow.AddMinutes(-id),
        UpdatedAt = DateTime.UtcNow.AddMinutes(-id),
    };

    /// <summary>Starts a Dashboard on 127.0.0.1 (a free port) with the test tokens and a real protection key, plus <paramref name="settings"/>.</summary>
    public async Task<(WebApplication App, Uri Url)> StartAsync(params string[] settings)
    {
        string[] args =
        [
            $"--ConnectionStrings:kafka={Kafka.Bootstrap}",
            "--urls=http://127.0.0.1:0",
            $"--Protection:Key={TestProtection.Key}",
            $"--Dashboard:BrowserToken={BrowserToken}",
            $"--Dashboard:WallToken={WallToken}",
            "--Dashboard:PushInterval=00:00:00.100",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:KafkaPipeline=Information",
            .. settings,
        ];
        var app = DashboardApp.Create(args, s => s.AddSingleton<ILoggerProvider>(Kafka.Logs));
        await Kafka.StartAsync(app);
        return (app, new Uri(app.Urls.First(u => u.StartsWith("http://", StringComparison.Ordinal))));
    }

    /// <summary>A client that keeps cookies and follows no redirect (so a test sees each answer).</summary>
    public static HttpClient Client(Uri url, CookieContainer? cookies = null) =>
        new(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = cookies ?? new CookieContainer(), UseCookies = true })
        {
            BaseAddress = url,
            Timeout = TimeSpan.FromSeconds(30),
        };

    /// <summary>A client logged in with <paramref name="token"/> (the login answered with a redirect to the CEO page).</summary>
    public static async Task<HttpClient> LoggedInAsync(Uri url, string token)
    {
        var client = Client(url);
        using var login = await client.GetAsync($"/login?t={Uri.EscapeDataString(token)}");
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        Assert.Equal("/", login.Headers.Location?.OriginalString);
        return client;
    }

    /// <summary>Waits until the CEO page's snapshot counts <paramref name="customers"/> customers.</summary>
    public async Task<string> WaitForCustomersAsync(HttpClient client, int customers)
    {
        var body = "";
        await Kafka.WaitUntilAsync(() =>
        {
            body = client.GetStringAsync("/api/dashboard/snapshot").GetAwaiter().GetResult();
            return body.Contains($"\"customers\":{customers},", StringComparison.Ordinal);
        }, () => $"{customers} customers in the snapshot (last: {body})");
        return body;
    }

    public ValueTask DisposeAsync() => Kafka.DisposeAsync();
}
