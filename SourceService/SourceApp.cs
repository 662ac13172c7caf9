using KafkaPipeline.Shared;
using KafkaPipeline.SourceService.Cdc;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.SourceService;

/// <summary>Builds the SourceService (the shape every service shares); Program.cs runs it, tests build it in-process.</summary>
public static class SourceApp
{
    /// <param name="configureServices">Extra registrations (tests), applied last.</param>
    public static WebApplication Create(string[] args, Action<IServiceCollection>? configureServices = null) =>
        ServiceApplication.Create(args, AddApplicationServices, configureServices);

    private static void AddApplicationServices(IHostApplicationBuilder builder)
    {
        builder.AddPipelineTelemetry();
        builder.AddValidatedOptions<SourceOptions>(SourceOptions.Section);
        // Pipeline:Tables (what the AppHost gives every service) is the capture list.
        builder.Services.PostConfigure<SourceOptions>(o =>
        {
            if (builder.Configuration[$"{PipelineOptions.Section}:{nameof(PipelineOptions.Tables)}"] is { Length: > 0 } tables) o.Tables = tables;
        });
        ConnectionNames.Require(builder.Configuration, ConnectionNames.Postgres);
        builder.AddNpgsqlDataSource(ConnectionNames.Postgres); // Aspire.Npgsql: pooling, health check, traces, metrics
        builder.AddKafkaClients();
        builder.Services.AddSingleton(sp => new SourceKafka(sp.GetRequiredService<KafkaClients>(),
            sp.GetRequiredService<IOptions<SourceOptions>>().Value.ProducerOverrides));
        // One worker, by mode: Cdc (the default) streams the log; the polling modes poll the table.
        builder.Services.AddSingleton<IHostedService>(sp =>
            sp.GetRequiredService<IOptions<SourceOptions>>().Value.Mode == SourceMode.Cdc
                ? ActivatorUtilities.CreateInstance<CdcWorker>(sp)
                : ActivatorUtilities.CreateInstance<SourceWorker>(sp));
    }
}
