using KafkaPipeline.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

// What the Aspire "service defaults" template gives every service, built from the packages this project can restore:
// OpenTelemetry 1.20 core + OpenTelemetry.Exporter.OpenTelemetryProtocol 1.20.
// Not available here, so written by hand or left out:
// - OpenTelemetry.Extensions.Hosting (services.AddOpenTelemetry()): replaced by OpenTelemetrySdk.Create(...) held as a
//   singleton, plus OpenTelemetryLifetime (a hosted service) that creates it at start and flushes it at stop.
// - OpenTelemetry.Instrumentation.AspNetCore/Http/Runtime: left out. Only the runtime's built-in meters are listened to.
// - Microsoft.Extensions.ServiceDiscovery and Microsoft.Extensions.Http.Resilience: left out (the services take plain
//   connection strings and URLs from configuration and retry with Polly where needed).
public static class Extensions
{
    private const string HealthEndpointPath = "/health";
    private const string AlivenessEndpointPath = "/alive";
    private const string LiveTag = "live";

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);

        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();

        // Graceful shutdown: give consumers time to finish a batch, commit offsets and flush telemetry.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));

        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);

        // Aspire sets OTEL_SERVICE_NAME (and OTEL_RESOURCE_ATTRIBUTES with service.instance.id, read by the SDK itself).
        var serviceName = builder.Configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } fromEnv
            ? fromEnv
            : builder.Environment.ApplicationName;

        // Aspire sets OTEL_EXPORTER_OTLP_ENDPOINT (+ OTEL_EXPORTER_OTLP_PROTOCOL) for each project it starts.
        // Without it nothing is exported: plain local runs stay quiet.
        var useOtlpExporter = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);

        // Logs: the OpenTelemetry logger provider lives in the host's container (so it reads the host's configuration
        // and the host disposes it, flushing the last batch).
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });
        builder.Services.ConfigureOpenTelemetryLoggerProvider(logging =>
        {
            logging.ConfigureResource(r => r.AddService(serviceName, autoGenerateServiceInstanceId: false));
            if (useOtlpExporter)
            {
                logging.AddOtlpExporter();
            }
        });

        // Traces and metrics: one SDK instance per process, created lazily from the host's configuration.
        var configuration = builder.Configuration;
        builder.Services.AddSingleton(_ => OpenTelemetrySdk.Create(otel =>
        {
            // The SDK builds its own container whose IConfiguration defaults to environment variables only; handing it
            // the host's configuration lets OTEL_* keys come from appsettings, command line or tests as well.
            otel.Services.AddSingleton<IConfiguration>(configuration);

            otel.ConfigureResource(r => r.AddService(serviceName, autoGenerateServiceInstanceId: false));

            // Spans are recorded only when they can be exported: the services create one per record, which costs
            // CPU and memory for nothing when no collector listens.
            if (useOtlpExporter)
            {
                otel.WithTracing(tracing => tracing.AddSource(TelemetryNames.ActivitySource, serviceName).AddOtlpExporter());
            }

            otel.WithMetrics(metrics =>
            {
                // The pipeline's own meter plus meters the .NET 10 runtime and ASP.NET Core publish without any
                // instrumentation package (GC/threads/exceptions, HTTP server and client requests).
                metrics.AddMeter(
                    TelemetryNames.Meter,
                    "System.Runtime",
                    "Microsoft.AspNetCore.Hosting",
                    "Microsoft.AspNetCore.Server.Kestrel",
                    "System.Net.Http");
                if (useOtlpExporter)
                {
                    metrics.AddOtlpExporter();
                }
            });
        }));
        builder.Services.AddHostedService<OpenTelemetryLifetime>();

        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);

        // "self" answers as long as the process serves requests: that is what /alive reports.
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);

        return builder;
    }

    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);

        // The Aspire template maps these only in Development because health output can leak details on a public port.
        // Here they are always mapped: the services bind to 127.0.0.1 only (or sit behind the cluster network in
        // Kubernetes, where the probes need them), and the default writer prints only "Healthy"/"Unhealthy".
        // /health: every check must pass (readiness). /alive: only the "live" checks (liveness).
        app.MapHealthChecks(HealthEndpointPath);
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains(LiveTag),
        });

        return app;
    }
}
