using KafkaPipeline.Shared;

namespace KafkaPipeline.Generator;

/// <summary>Builds the Generator (the shape every service shares); Program.cs runs it, tests build it in-process.</summary>
public static class GeneratorApp
{
    /// <param name="configureServices">Extra registrations (tests), applied last.</param>
    public static WebApplication Create(string[] args, Action<IServiceCollection>? configureServices = null) =>
        ServiceApplication.Create(args, AddApplicationServices, configureServices);

    private static void AddApplicationServices(IHostApplicationBuilder builder)
    {
        builder.AddPipelineTelemetry();
        builder.AddValidatedOptions<GeneratorOptions>(GeneratorOptions.Section);
        ConnectionNames.Require(builder.Configuration, ConnectionNames.Postgres);
        builder.AddNpgsqlDataSource(ConnectionNames.Postgres); // Aspire.Npgsql: pooling, health check, traces, metrics
        builder.Services.AddHostedService<UserGenerator>();
    }
}
