using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace KafkaPipeline.AppHost;

/// <summary>How every service of the pipeline is declared.</summary>
internal static class PipelineServices
{
    /// <summary>
    /// A service project with one HTTP endpoint (Aspire passes it in ASPNETCORE_URLS) whose /health (ServiceDefaults)
    /// feeds the dashboard's health column. Launch profiles are ignored so that endpoint is the only one, and references
    /// inject only connection strings: the services read nothing else of them.
    /// </summary>
    /// <param name="settingsSection">
    /// The service's own settings section (e.g. "Generator"): keys given to the AppHost (`./run.sh
    /// --Generator:RatePerSecond=200`, or AppHost configuration) are passed on as Generator__RatePerSecond.
    /// </param>
    /// <param name="port">A fixed port for the endpoint (a page people open); null lets Aspire choose.</param>
    public static IResourceBuilder<ProjectResource> AddPipelineService<TProject>(this IDistributedApplicationBuilder builder,
        string name, string settingsSection, int? port = null)
        where TProject : IProjectMetadata, new()
    {
        var settings = builder.Configuration.GetSection(settingsSection).AsEnumerable(makePathsRelative: true)
            .Where(kv => kv.Value is not null)
            .ToList();
        var service = builder.AddProject<TProject>(name, o => o.ExcludeLaunchProfile = true)
            .WithHttpEndpoint(port: port)
            .WithHttpHealthCheck("/health")
            .WithReferenceEnvironment(ReferenceEnvironmentInjectionFlags.ConnectionString);
        if (builder.ExecutionContext.IsRunMode) service.WithEnvironment(ServiceReaper.Variable, ServiceReaper.RunId);
        return service
            .WithEnvironment(context =>
            {
                foreach (var (key, value) in settings)
                    context.EnvironmentVariables[$"{settingsSection}__{key.Replace(":", "__", StringComparison.Ordinal)}"] = value!;
            });
    }

    /// <summary>ConnectionStrings__{name} of each store, and no start before each store is healthy.</summary>
    public static IResourceBuilder<ProjectResource> WithStores(this IResourceBuilder<ProjectResource> service,
        params IResourceBuilder<IResourceWithConnectionString>[] stores)
    {
        foreach (var store in stores) service.WithReference(store).WaitFor(store);
        return service;
    }

    /// <summary>
    /// Copies the service's status lines ("[status ...]", the Monitor's) from its resource log to the AppHost's console,
    /// where ./run.sh shows them every 5 s.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithStatusLinesOnConsole(this IResourceBuilder<ProjectResource> service) =>
        service.OnInitializeResource(async (resource, e, ct) =>
        {
            await foreach (var lines in e.Services.GetRequiredService<ResourceLoggerService>().WatchAsync(resource).WithCancellation(ct))
            {
                foreach (var line in lines.Where(l => l.Content.Contains("[status ", StringComparison.Ordinal)))
                    Console.WriteLine(line.Content[line.Content.IndexOf("[status ", StringComparison.Ordinal)..]);
            }
        });

    /// <summary>
    /// AppHost:DashboardPort: where the Dashboard's page listens (default 5080, the address ./run.sh prints; 0 = any free
    /// port, what the tests use so they run beside ./run.sh). A bad value stops the AppHost naming the setting.
    /// </summary>
    public static int? DashboardPort(this IDistributedApplicationBuilder builder)
    {
        var text = builder.Configuration["AppHost:DashboardPort"];
        if (text is null) return 5080;
        return int.TryParse(text, out var port) && port is >= 0 and <= 65535
            ? (port == 0 ? null : port)
            : throw new DistributedApplicationException($"AppHost:DashboardPort must be a port number, or 0 for any free port (got '{text}').");
    }

    /// <summary>Pipeline:SinkReplicas (default 1), checked here so a bad value stops the AppHost naming the setting.</summary>
    public static int SinkReplicas(this IDistributedApplicationBuilder builder)
    {
        var text = builder.Configuration["Pipeline:SinkReplicas"];
        if (text is null) return 1;
        return int.TryParse(text, out var n) && n is >= 1 and <= 8
            ? n
            : throw new DistributedApplicationException($"Pipeline:SinkReplicas must be a number from 1 to 8 (got '{text}').");
    }
}
