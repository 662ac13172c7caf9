using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace KafkaPipeline.Shared;

/// <summary>
/// What a service's own work says about its health, beyond reaching its stores: a table a sink stopped writing (and
/// why, and what to do), the columns a source leaves out. Components report named conditions; the "pipeline" health
/// check (on /health) is the worst of them, with every condition's text. Thread-safe.
/// </summary>
public sealed class PipelineHealth
{
    private readonly ConcurrentDictionary<string, (HealthStatus Status, string Description)> _conditions = new(StringComparer.Ordinal);

    /// <summary>Sets condition <paramref name="key"/> (a description for people: what is wrong and the fix; never a record's value).</summary>
    public void Report(string key, HealthStatus status, string description) => _conditions[key] = (status, description);

    public void Clear(string key) => _conditions.TryRemove(key, out _);

    public IReadOnlyDictionary<string, (HealthStatus Status, string Description)> Conditions => _conditions;

    internal HealthCheckResult Check()
    {
        if (_conditions.IsEmpty) return HealthCheckResult.Healthy();
        var worst = _conditions.Values.Min(c => c.Status); // Unhealthy < Degraded < Healthy
        var text = string.Join(" | ", _conditions.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}: {c.Value.Description}"));
        var data = _conditions.ToDictionary(c => c.Key, c => (object)$"{c.Value.Status}: {c.Value.Description}");
        return new HealthCheckResult(worst, text, data: data);
    }
}

public static class PipelineHealthExtensions
{
    public static IServiceCollection AddPipelineHealth(this IServiceCollection services)
    {
        if (services.Any(s => s.ServiceType == typeof(PipelineHealth))) return services;
        services.AddSingleton<PipelineHealth>();
        services.AddHealthChecks().Add(new HealthCheckRegistration("pipeline",
            sp => new DelegateHealthCheck(sp.GetRequiredService<PipelineHealth>()), failureStatus: null, ["ready"]));
        return services;
    }

    private sealed class DelegateHealthCheck(PipelineHealth health) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(health.Check());
    }
}
