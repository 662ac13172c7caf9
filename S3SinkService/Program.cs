using KafkaPipeline.Shared;

namespace KafkaPipeline.S3SinkService;

/// <summary>Kafka topic P_USERS -> JSON-lines objects in S3, exactly once per (partition, offset).</summary>
public static class Program
{
    public static void Main(string[] args) => CreateApp(args).Run();

    /// <summary>
    /// Builds the service; tests run it in-process with settings in <paramref name="args"/> and may add services
    /// (e.g. an <see cref="IS3SinkHooks"/>).
    /// </summary>
    public static WebApplication CreateApp(string[] args, Action<IServiceCollection>? configureServices = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ApplicationName = typeof(Program).Assembly.GetName().Name,
        });
        builder.AddServiceDefaults();
        builder.AddValidatedOptions<S3SinkOptions>(S3SinkOptions.Section);
        builder.AddValidatedOptions<S3Options>(S3Options.Section);

        var kafka = ConnectionNames.Require(builder.Configuration, ConnectionNames.Kafka);
        var s3 = builder.Configuration.GetSection(S3Options.Section).Get<S3Options>() ?? new S3Options();
        builder.Services.AddHealthChecks().AddS3(s3).AddKafka(kafka);

        builder.Services.AddHostedService<S3SinkWorker>();
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.MapDefaultEndpoints();
        return app;
    }
}
