using System.Net;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using KafkaPipeline.Dashboard;
using KafkaPipeline.IntegrationTests.Sinks;
using KafkaPipeline.Shared;
using KafkaPipeline.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.IntegrationTests.Dashboard;

/// <summary>
/// The Dashboard's login, the wall-screen link, the topic browser's masking and bounds, and the start-up refusals, over
/// HTTP on a Dashboard in this process reading an embedded Kafka with users in it.
/// </summary>
public sealed class DashboardLoginTests
{
    private static readonly string[] s_codeOnly = ["code"];
    private static readonly string[] s_guarded =
    [
        "/", "/index.html", "/app.js", "/kafka/", "/kafka/kafka.js", "/api/dashboard/snapshot", "/api/dashboard/events",
        "/api/dashboard/time", "/api/kafka/cluster", "/api/kafka/groups", "/api/kafka/messages?topic=P_USERS&partition=0",
        "/api/kafka/messages?topic=P_USERS.dlq&partition=0", "/api/kafka/messages?topic=__consumer_offsets&partition=0",
    ];

    [Fact]
    public async Task Without_a_login_no_page_or_API_answers_and_the_login_page_shows_no_customer_data()
    {
        await using var kit = new DashboardTestKit();
        var users = Enumerable.Range(1, 6).Select(i => DashboardTestKit.User(i)).ToList();
        kit.Kafka.ProduceUsers(users);
        var (_, url) = await kit.StartAsync();
        await kit.WaitForCustomersAsync(await DashboardTestKit.LoggedInAsync(url, DashboardTestKit.BrowserToken), users.Count);

        using var anonymous = DashboardTestKit.Client(url);
        foreach (var path in s_guarded)
        {
            using var response = await anonymous.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
            var body = await response.Content.ReadAsStringAsync();
            if (path.StartsWith("/api/", StringComparison.Ordinal))
                Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{path}: {(int)response.StatusCode} {body}");
            else
            {
                Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"{path}: {(int)response.StatusCode}");
                Assert.Equal("/login", response.Headers.Location?.OriginalString);
            }
            AssertNoPersonalData(body, users, path);
        }

        // The login page: a form, nothing of the customers.
        var loginPage = await anonymous.GetStringAsync("/login");
        Assert.Contains("data-testid=\"login\"", loginPage, StringComparison.Ordinal);
        AssertNoPersonalData(loginPage, users, "/login");
        Assert.DoesNotContain("Iceland", loginPage, StringComparison.Ordinal);
        using var wrong = await anonymous.GetAsync("/login?t=not-the-token-at-all");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.False(wrong.Headers.Contains("Set-Cookie"), "a cookie for a wrong token");
        // Health stays open for the AppHost's checks; a Host header of another name is refused (DNS rebinding).
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/alive")).StatusCode);
        using var rebound = new HttpRequestMessage(HttpMethod.Get, "/login") { Headers = { Host = "attacker.example" } };
        Assert.Equal(HttpStatusCode.BadRequest, (await anonymous.SendAsync(rebound)).StatusCode);
    }

    [Fact]
    public async Task The_browser_token_opens_everything_and_the_wall_token_only_the_CEO_page()
    {
        await using var kit = new DashboardTestKit();
        kit.Kafka.ProduceUsers([DashboardTestKit.User(1), DashboardTestKit.User(2)]);
        var (_, url) = await kit.StartAsync();

        using var full = await DashboardTestKit.LoggedInAsync(url, DashboardTestKit.BrowserToken);
        var snapshot = await kit.WaitForCustomersAsync(full, 2);
        Assert.Contains("Quillon1", snapshot, StringComparison.Ordinal); // the first name, as the CEO page shows it
        Assert.DoesNotContain("Vexmarsh", snapshot, StringComparison.Ordinal); // never the last name
        foreach (var path in new[] { "/", "/kafka/", "/api/kafka/cluster", "/api/kafka/messages?topic=P_USERS&partition=0" })
            Assert.True((await full.GetAsync(path)).StatusCode == HttpStatusCode.OK, path);

        using var wall = await DashboardTestKit.LoggedInAsync(url, DashboardTestKit.WallToken);
        foreach (var path in new[] { "/", "/app.js", "/api/dashboard/snapshot", "/api/dashboard/time" })
            Assert.True((await wall.GetAsync(path)).StatusCode == HttpStatusCode.OK, path);
        foreach (var path in new[] { "/kafka/", "/kafka/kafka.js", "/api/kafka/cluster", "/api/kafka/groups",
                     "/api/kafka/messages?topic=P_USERS&partition=0", "/api/kafka/messages?topic=P_USERS.dlq&partition=0" })
        {
            using var response = await wall.GetAsync(path);
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{path}: {(int)response.StatusCode}");
            Assert.DoesNotContain("Quillon", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // Logging out ends it.
        await full.GetAsync("/logout");
        Assert.Equal(HttpStatusCode.Unauthorized, (await full.GetAsync("/api/dashboard/snapshot")).StatusCode);
    }

    [Fact]
    public async Task A_cookie_issued_for_another_token_is_turned_away()
    {
        await using var kit = new DashboardTestKit();
        var (_, first) = await kit.StartAsync();
        var (_, second) = await kit.StartAsync("--Dashboard:BrowserToken=the-token-of-a-later-run-of-it");
        var cookies = new CookieContainer();
        using (var client = DashboardTestKit.Client(first, cookies))
            Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync($"/login?t={DashboardTestKit.BrowserToken}")).StatusCode);
        // The same cookie (same name, same data-protection keys) sent to a Dashboard whose token is another.
        var cookie = cookies.GetCookies(first).Single();
        using var other = DashboardTestKit.Client(second);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/dashboard/snapshot");
        request.Headers.Add("Cookie", $"{cookie.Name}={cookie.Value}");
        Assert.Equal(HttpStatusCode.Unauthorized, (await other.SendAsync(request)).StatusCode);
        using var again = new HttpRequestMessage(HttpMethod.Get, "/api/dashboard/snapshot");
        again.Headers.Add("Cookie", $"{cookie.Name}={cookie.Value}");
        using var same = DashboardTestKit.Client(first);
        Assert.Equal(HttpStatusCode.OK, (await same.SendAsync(again)).StatusCode);
    }

    [Fact]
    public async Task The_topic_browser_masks_personal_fields_shows_only_the_pipelines_topics_and_any_message_bounded()
    {
        await using var kit = new DashboardTestKit();
        var users = Enumerable.Range(1, 8).Select(i => DashboardTestKit.User(i)).ToList();
        kit.Kafka.ProduceUsers(users);
        kit.Kafka.Kafka.CreateTopic("SOMEONE_ELSES", 1);
        // The dead-letter topic holds what the sinks could not read: here not JSON, invalid UTF-8, flat JSON, huge.
        var huge = Encoding.UTF8.GetBytes("{\"id\":9,\"name\":\"Quillon9 Vexmarsh\",\"notes\":\"" + new string('x', 900 * 1024) + "\"}");
        byte[][] deadLetters =
        [
            Encoding.UTF8.GetBytes("Quillon7 Vexmarsh, 555-07-0007, not JSON at all"),
            [0xff, 0xfe, 0x80, (byte)'Q', 0x00],
            Encoding.UTF8.GetBytes("{\"ID\":7,\"Mail\":\"quillon7@mail.example\",\"SSN\":5550070007,\"address\":{\"street\":\"7 Harbourgate Lane\"}}"),
            Encoding.UTF8.GetBytes("{\"id\":7,\"name\":\"Quillon7 Vexmarsh\""), // truncated
            huge,
        ];
        foreach (var value in deadLetters)
            await kit.Kafka.Producer.ProduceAsync(SinkTestKit.DeadLetterTopic, new Message<byte[]?, byte[]?> { Key = "7"u8.ToArray(), Value = value });
        var (app, url) = await kit.StartAsync("--Dashboard:MaxValueBytes=65536", "--Dashboard:MaxResponseBytes=262144");
        using var client = await DashboardTestKit.LoggedInAsync(url, DashboardTestKit.BrowserToken);

        // Only P_USERS and its dead-letter topic, in the cluster view and for messages.
        using (var cluster = JsonDocument.Parse(await client.GetStringAsync("/api/kafka/cluster")))
            Assert.Equal(["P_USERS", "P_USERS.dlq"], cluster.RootElement.GetProperty("topics").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
        foreach (var topic in new[] { "SOMEONE_ELSES", "__consumer_offsets" })
            Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/kafka/messages?topic={topic}&partition=0")).StatusCode);

        // Every user's message: the schema and the id are there, every personal field is "***".
        var shown = new StringBuilder();
        var messages = 0;
        for (var p = 0; p < SinkTestKit.Partitions; p++)
        {
            var body = await client.GetStringAsync($"/api/kafka/messages?topic=P_USERS&partition={p}&limit=100");
            shown.Append(body);
            using var doc = JsonDocument.Parse(body);
            foreach (var m in doc.RootElement.GetProperty("messages").EnumerateArray())
            {
                messages++;
                using var value = JsonDocument.Parse(m.GetProperty("value").GetString()!);
                Assert.Equal("struct", value.RootElement.GetProperty("schema").GetProperty("type").GetString());
                var payload = value.RootElement.GetProperty("payload");
                foreach (var field in DashboardOptions.DefaultPersonalFields)
                    Assert.Equal(MessageDisplay.Mask, payload.GetProperty(field).GetString());
                Assert.Equal("Cartographer", payload.GetProperty("job").GetString()); // not personal: shown
                Assert.Equal(m.GetProperty("key").GetString(), payload.GetProperty("id").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        Assert.Equal(users.Count, messages);
        AssertNoPersonalData(shown.ToString(), users, "P_USERS");

        // The dead letters: shown without a throw, masked or hidden, cut to the bound, the response within its bytes.
        using var dlqResponse = await client.GetAsync("/api/kafka/messages?topic=P_USERS.dlq&partition=0&limit=100");
        var dlqBody = await dlqResponse.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, dlqResponse.StatusCode);
        Assert.True(Encoding.UTF8.GetByteCount(dlqBody) < 262_144 + 16_384, $"{Encoding.UTF8.GetByteCount(dlqBody)} bytes");
        AssertNoPersonalData(dlqBody, users, "P_USERS.dlq");
        Assert.DoesNotContain("5550070007", dlqBody, StringComparison.Ordinal);
        using (var dlq = JsonDocument.Parse(dlqBody))
        {
            var shownDead = dlq.RootElement.GetProperty("messages").EnumerateArray().ToList();
            Assert.Equal(deadLetters.Length, shownDead.Count);
            Assert.Contains("hidden", shownDead[0].GetProperty("note").GetString(), StringComparison.Ordinal);
            Assert.Contains("hidden", shownDead[1].GetProperty("note").GetString(), StringComparison.Ordinal);
            using (var flat = JsonDocument.Parse(shownDead[2].GetProperty("value").GetString()!))
            {
                Assert.Equal(MessageDisplay.Mask, flat.RootElement.GetProperty("Mail").GetString()); // any case
                Assert.Equal(MessageDisplay.Mask, flat.RootElement.GetProperty("SSN").GetString()); // any JSON type
                Assert.Equal(MessageDisplay.Mask, flat.RootElement.GetProperty("address").GetString());
            }
            Assert.Contains("hidden", shownDead[3].GetProperty("note").GetString(), StringComparison.Ordinal);
            Assert.Contains("cut at 65,536", shownDead[4].GetProperty("note").GetString(), StringComparison.Ordinal);
            Assert.True(Encoding.UTF8.GetByteCount(shownDead[4].GetProperty("value").GetString()!) <= 65_536);
            Assert.Equal(huge.Length, shownDead[4].GetProperty("valueBytes").GetInt64());
        }

        // Revealing is a setting, off by default; with it the names show, and protected fields stay hashed as in the lake.
        Assert.False(app.Services.GetRequiredService<IOptions<DashboardOptions>>().Value.RevealPersonalData);
        var (_, revealing) = await kit.StartAsync("--Dashboard:RevealPersonalData=true");
        using var revealed = await DashboardTestKit.LoggedInAsync(revealing, DashboardTestKit.BrowserToken);
        var all = new StringBuilder();
        for (var p = 0; p < SinkTestKit.Partitions; p++) all.Append(await revealed.GetStringAsync($"/api/kafka/messages?topic=P_USERS&partition={p}"));
        Assert.Contains("Quillon1 Vexmarsh", all.ToString(), StringComparison.Ordinal);
        Assert.Contains(TestProtection.Protector.Hash(users[0].Ssn), all.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(users[0].Ssn, all.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_login_is_refused_at_start_unless_the_Dashboard_listens_on_loopback_only()
    {
        await using var kit = new DashboardTestKit();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            kit.StartAsync("--Dashboard:Authentication=none", "--urls=http://0.0.0.0:0"));
        Assert.Contains("Dashboard:Authentication=none is allowed only when the Dashboard listens on loopback addresses only", error.Message, StringComparison.Ordinal);
        Assert.Contains("http://0.0.0.0:0", error.Message, StringComparison.Ordinal);

        var (_, url) = await kit.StartAsync("--Dashboard:Authentication=none");
        using var anonymous = DashboardTestKit.Client(url);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/api/dashboard/snapshot")).StatusCode);
        Assert.Contains(kit.Kafka.Logs.Lines, l => l.Message.Contains("Dashboard:Authentication=none: no login", StringComparison.Ordinal));
    }

    [Fact]
    public async Task In_oidc_mode_a_page_sends_the_browser_to_the_identity_provider_and_an_API_answers_401()
    {
        // A stand-in provider that serves only its discovery document and an empty key set: enough to see where the Dashboard sends people.
        var provider = WebApplication.CreateBuilder();
        provider.WebHost.UseUrls("http://127.0.0.1:0");
        await using var idp = provider.Build();
        idp.MapGet("/.well-known/openid-configuration", (HttpContext c) => Results.Json(new
        {
            issuer = $"http://{c.Request.Host}",
            authorization_endpoint = $"http://{c.Request.Host}/authorize",
            token_endpoint = $"http://{c.Request.Host}/token",
            jwks_uri = $"http://{c.Request.Host}/jwks",
            response_types_supported = s_codeOnly,
        }));
        idp.MapGet("/jwks", () => Results.Json(new { keys = Array.Empty<object>() }));
        await idp.StartAsync();
        var authority = idp.Urls.First();

        await using var kit = new DashboardTestKit();
        var (_, url) = await kit.StartAsync("--Dashboard:Authentication=oidc", $"--Dashboard:Oidc:Authority={authority}",
            "--Dashboard:Oidc:ClientId=kafkapipeline-dashboard", "--Dashboard:Oidc:ClientSecret=a-client-secret",
            "--Dashboard:Oidc:RequireHttpsMetadata=false");
        using var anonymous = DashboardTestKit.Client(url);
        using var page = await anonymous.GetAsync("/");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        var location = page.Headers.Location!.ToString();
        Assert.StartsWith($"{authority}/authorize?", location, StringComparison.Ordinal);
        Assert.Contains("client_id=kafkapipeline-dashboard", location, StringComparison.Ordinal);
        Assert.Contains("code_challenge=", location, StringComparison.Ordinal);
        Assert.Contains("redirect_uri=" + Uri.EscapeDataString($"{url.ToString().TrimEnd('/')}/signin-oidc"), location, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/dashboard/snapshot")).StatusCode);
        // The wall-screen token still works in oidc mode when one is configured; the browser token is not used there.
        using var wall = await DashboardTestKit.LoggedInAsync(url, DashboardTestKit.WallToken);
        Assert.Equal(HttpStatusCode.OK, (await wall.GetAsync("/api/dashboard/snapshot")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await wall.GetAsync("/api/kafka/cluster")).StatusCode);

        // Settings an oidc deployment needs are named at start when missing.
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => kit.StartAsync("--Dashboard:Authentication=oidc"));
        Assert.Contains("Dashboard:Oidc:Authority", error.Message, StringComparison.Ordinal);
        Assert.Contains("Dashboard:Oidc:ClientId", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")] // no key at all
    [InlineData(ProtectionOptions.DevelopmentKey)]
    public async Task Outside_Development_the_Dashboard_and_both_sinks_refuse_to_start_without_a_key_of_their_own(string key)
    {
        await using var kit = new DashboardTestKit();
        var dashboard = await Assert.ThrowsAsync<OptionsValidationException>(() => kit.StartAsync($"--Protection:Key={key}"));
        Assert.Contains("Protection:Key", dashboard.Message, StringComparison.Ordinal);

        string[] sinkArgs =
        [
            $"--ConnectionStrings:kafka={kit.Kafka.Bootstrap}", "--ConnectionStrings:emaildb=Server=127.0.0.1;Port=1;User ID=x;Password=y;Database=z",
            "--S3:ServiceUrl=http://127.0.0.1:1", "--S3:Bucket=b", "--S3:AccessKey=a", "--S3:SecretKey=s",
            "--urls=http://127.0.0.1:0", $"--Protection:Key={key}",
        ];
        await using var mysql = MySqlSinkService.MySqlSinkApp.Create(sinkArgs);
        Assert.Contains("Protection:Key", (await Assert.ThrowsAsync<OptionsValidationException>(() => mysql.StartAsync())).Message, StringComparison.Ordinal);
        await using var s3 = S3SinkService.S3SinkApp.Create(sinkArgs);
        Assert.Contains("Protection:Key", (await Assert.ThrowsAsync<OptionsValidationException>(() => s3.StartAsync())).Message, StringComparison.Ordinal);

        // In Development the development key is what a bare `dotnet run` of one service gets, and it starts.
        var (_, url) = await kit.StartAsync($"--Protection:Key={ProtectionOptions.DevelopmentKey}", "--environment=Development");
        Assert.Equal(HttpStatusCode.OK, (await DashboardTestKit.Client(url).GetAsync("/alive")).StatusCode);
    }

    private static void AssertNoPersonalData(string text, IEnumerable<UserRecord> users, string where)
    {
        foreach (var u in users)
        {
            foreach (var value in new[] { u.Name, u.Name.Split(' ')[1], u.Username, u.Mail, u.Address, u.Ssn })
                Assert.False(text.Contains(value, StringComparison.Ordinal), $"{where} shows '{value}'");
        }
    }
}
