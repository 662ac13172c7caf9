using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Trace;
using OpenTelemetry.Metrics;

namespace KafkaPipeline.ServiceDefaults;

/// <summary>
/// Stands in for OpenTelemetry.Extensions.Hosting (not available here): resolves the <see cref="OpenTelemetrySdk"/>
/// singleton at start, so spans and measurements are collected from the first one on, and flushes it at stop.
/// The host's container disposes the SDK afterwards (which shuts the exporters down).
/// </summary>
internal sealed class OpenTelemetryLifetime(OpenTelemetrySdk sdk) : IHostedService
{
    private const int FlushTimeoutMilliseconds = 5000;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken)
    {
        // Flush what was recorded so far; the final flush happens when the container disposes the SDK.
        sdk.TracerProvider.ForceFlush(FlushTimeoutMilliseconds);
        sdk.MeterProvider.ForceFlush(FlushTimeoutMilliseconds);
        return Task.CompletedTask;
    }
}
