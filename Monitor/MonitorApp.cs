using KafkaPipeline.Shared;
using Microsoft.Extensions.Options;
using Npgsql;

namespace KafkaPipeline.Monitor;

/// <summary>Builds the Monitor (the shape every service shares); Program.cs runs it, tests build it in-process.</summary>
public static class MonitorApp
{
    /// <param name="configureServices">Extra registrations (tests), applied last.</param>
    public static WebApplication Create(string[] args, Action<IServiceCollection>? configureServices = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.AddApplicationServices();
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.MapDefaultEndpoints();
        return app;
    }

    private static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddValidatedOptions<MonitorOptions>(MonitorOptions.Section);
        builder.AddS3Options();
        ConnectionNames.Require(builder.Configuration, ConnectionNames.Postgres);
        builder.AddNpgsqlDataSource(ConnectionNames.Postgres);
        builder.AddKafkaClients();
        var mysql = ConnectionNames.Require(builder.Configuration, ConnectionNames.MySql);
        builder.Services.AddHealthChecks().AddMySql(mysql).AddS3();
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<MonitorOptions>>().Value;
            return new PipelineStatus(sp.GetRequiredService<NpgsqlDataSource>(), sp.GetRequiredService<KafkaClients>(), mysql,
                sp.GetRequiredService<IOptions<S3Options>>().Value, TopicNames.ForTable(o.TopicPrefix, o.Table), o.Table);
        });
        builder.Services.AddHostedService<StatusWorker>();
    }
}
