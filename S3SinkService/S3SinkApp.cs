using KafkaPipeline.Shared;

namespace KafkaPipeline.S3SinkService;

/// <summary>
/// Builds the S3 sink (the shape every service shares): Kafka topic P_USERS -> JSON-lines objects in S3, exactly once
/// per (partition, offset). Program.cs runs it; tests build it in-process and may add services (an <see cref="IS3SinkHooks"/>).
/// </summary>
public static class S3SinkApp
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
        builder.AddPipelineTelemetry();
        builder.AddValidatedOptions<S3SinkOptions>(S3SinkOptions.Section);
        builder.AddS3Options();
        builder.AddKafkaClients();
        builder.Services.AddHealthChecks().AddS3();
        builder.Services.AddHostedService<S3SinkWorker>();
    }
}
