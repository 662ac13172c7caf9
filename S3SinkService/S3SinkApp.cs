using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Sinks;

namespace KafkaPipeline.S3SinkService;

/// <summary>
/// Builds the S3 sink (the shape every service shares): Kafka topic P_USERS -> JSON-lines objects in S3, exactly once
/// per (partition, offset). Program.cs runs it; tests build it in-process and may replace services (e.g. wrap the task).
/// </summary>
public static class S3SinkApp
{
    /// <param name="configureServices">Extra registrations (tests), applied last.</param>
    public static WebApplication Create(string[] args, Action<IServiceCollection>? configureServices = null) =>
        ServiceApplication.Create(args, AddApplicationServices, configureServices);

    private static void AddApplicationServices(IHostApplicationBuilder builder)
    {
        builder.AddPipelineTelemetry();
        builder.AddS3Options();
        builder.AddKafkaClients();
        builder.AddSink<S3SinkTask, S3SinkOptions>(S3SinkOptions.Section);
        builder.Services.AddHealthChecks().AddS3();
    }
}
