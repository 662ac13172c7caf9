using KafkaPipeline.Shared;
using Npgsql;

namespace KafkaPipeline.SourceService;

/// <summary>Builds the SourceService; Program.cs runs it and tests may build it in-process.</summary>
public static class SourceApp
{
    public static WebApplication Create(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.AddValidatedOptions<SourceOptions>(SourceOptions.Section);

        var postgres = ConnectionNames.Require(builder.Configuration, ConnectionNames.Postgres);
        var kafka = ConnectionNames.Require(builder.Configuration, ConnectionNames.Kafka);
        builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(postgres));
        builder.Services.AddSingleton(_ => new SourceKafka(kafka));
        builder.Services.AddHealthChecks().AddPostgres(postgres).AddKafka(kafka);
        builder.Services.AddHostedService<SourceWorker>();

        var app = builder.Build();
        app.MapDefaultEndpoints();
        return app;
    }
}
