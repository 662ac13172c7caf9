using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using KafkaPipeline.Shared;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KafkaPipeline.IntegrationTests.Observability;

// ServiceDefaults on its own: a tiny web app with AddServiceDefaults() + MapDefaultEndpoints(), no pipeline servers.
public sealed class ServiceDefaultsTests
{
    // Deadline for things that happen in the background (export over HTTP); not a speed assertion.
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Health_follows_checks_and_alive_only_follows_live_checks()
    {
        var toggle = new ToggleHealthCheck();
        var builder = CreateBuilder(new Dictionary<string, string?>());
        builder.Services.AddHealthChecks().AddCheck("toggle", toggle);
        await using var app = builder.Build();
        app.MapDefaultEndpoints();
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(BaseAddress(app)) };

        await AssertStatus(http, "/health", HttpStatusCode.OK, "Healthy");
        await AssertStatus(http, "/alive", HttpStatusCode.OK, "Healthy");

        toggle.Healthy = false;
        await AssertStatus(http, "/health", HttpStatusCode.ServiceUnavailable, "Unhealthy");
        await AssertStatus(http, "/alive", HttpStatusCode.OK, "Healthy");

        toggle.Healthy = true;
        await AssertStatus(http, "/health", HttpStatusCode.OK, "Healthy");

        await app.StopAsync();
    }

    [Fact]
    public async Task Traces_metrics_and_logs_are_exported_over_otlp_http_when_an_endpoint_is_configured()
    {
        await using var collector = await OtlpCollector.StartAsync();

        // Configured through IConfiguration, not environment variables: those are process-wide and tests run in parallel.
        var builder = CreateBuilder(new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_SERVICE_NAME"] = "otlp-test-service",
        });
        var app = builder.Build();
        app.MapDefaultEndpoints();
        await app.StartAsync();

        var spanName = "otlp-test-span-" + Guid.NewGuid().ToString("N");
        var metricName = "otlp.test.records." + Guid.NewGuid().ToString("N");
        var logText = "otlp-test-log-" + Guid.NewGuid().ToString("N");

        using (var source = new ActivitySource(PipelineTelemetry.Name))
        using (var meter = new Meter(PipelineTelemetry.Name))
        {
            using (var activity = source.StartActivity(spanName))
            {
                Assert.NotNull(activity); // null would mean the SDK is not listening to the source
            }

            meter.CreateCounter<long>(metricName).Add(3);

            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("ObservabilityTest")
                .LogInformation("Test message {Text}", logText);

            // Disposing the host shuts the providers down, which flushes what was recorded.
            await app.StopAsync();
            await app.DisposeAsync();
        }

        await collector.WaitForAsync("/v1/traces", spanName, Deadline);
        await collector.WaitForAsync("/v1/metrics", metricName, Deadline);
        await collector.WaitForAsync("/v1/logs", logText, Deadline);
        // The resource carries the configured service name.
        await collector.WaitForAsync("/v1/traces", "otlp-test-service", Deadline);
    }

    private static WebApplicationBuilder CreateBuilder(Dictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Production });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        // Keep the test independent of OTEL_* variables the process may have; in-memory settings come last and win.
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "",
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults();
        // The pipeline's own source and meter, registered the way every service does.
        builder.AddPipelineTelemetry();
        return builder;
    }

    private static string BaseAddress(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();

    private static async Task AssertStatus(HttpClient http, string path, HttpStatusCode expected, string body)
    {
        using var response = await http.GetAsync(new Uri(path, UriKind.Relative));
        Assert.Equal(expected, response.StatusCode);
        // /health answers JSON (the status and each check's reason); /alive a plain status.
        var text = await response.Content.ReadAsStringAsync();
        var status = text.StartsWith('{') ? System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("status").GetString() : text;
        Assert.Equal(body, status);
    }

    private sealed class ToggleHealthCheck : IHealthCheck
    {
        public volatile bool Healthy = true;

        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(Healthy ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("toggled off"));
    }

    // A stand-in OTLP/HTTP collector: records the raw body of every POST by path. Protobuf stores strings as plain
    // UTF-8, so span, metric and service names can be found in the bytes without decoding the messages.
    private sealed class OtlpCollector : IAsyncDisposable
    {
        private readonly WebApplication app;
        private readonly ConcurrentQueue<(string Path, byte[] Body)> requests = new();

        private OtlpCollector(WebApplication app) => this.app = app;

        public string Endpoint => BaseAddress(app);

        public static async Task<OtlpCollector> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var collector = new OtlpCollector(builder.Build());
            collector.app.MapPost("/v1/{signal}", async (HttpContext context) =>
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body);
                collector.requests.Enqueue((context.Request.Path.Value ?? "", body.ToArray()));
                // An empty Export*ServiceResponse encodes to zero bytes.
                context.Response.ContentType = "application/x-protobuf";
                context.Response.StatusCode = StatusCodes.Status200OK;
            });
            await collector.app.StartAsync();
            return collector;
        }

        public async Task WaitForAsync(string path, string text, TimeSpan deadline)
        {
            var needle = Encoding.UTF8.GetBytes(text);
            var stopwatch = Stopwatch.StartNew();
            while (!requests.Any(r => r.Path == path && r.Body.AsSpan().IndexOf(needle) >= 0))
            {
                if (stopwatch.Elapsed > deadline)
                {
                    var seen = string.Join(", ", requests.Select(r => $"{r.Path} ({r.Body.Length} bytes)"));
                    Assert.Fail($"No POST to {path} containing '{text}' within {deadline}. Seen: [{seen}]");
                }

                await Task.Delay(100);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
