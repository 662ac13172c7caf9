using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Customers;
using Microsoft.Extensions.Options;
using Npgsql;

namespace KafkaPipeline.Monitor;

/// <summary>Builds the Monitor (the shape every service shares); Program.cs runs it, tests build it in-process.</summary>
public static class MonitorApp
{
    /// <param name="configureServices">Extra registrations (tests), applied last.</param>
    public static WebApplication Create(string[] args, Action<IServiceCollection>? configureServices = null) =>
        ServiceApplication.Create(args, AddApplicationServices, configureServices);

    private static void AddApplicationServices(IHostApplicationBuilder builder)
    {
        builder.AddValidatedOptions<MonitorOptions>(MonitorOptions.Section);
        builder.AddS3Options();
        ConnectionNames.Require(builder.Configuration, ConnectionNames.Postgres);
        builder.AddNpgsqlDataSource(ConnectionNames.Postgres);
        builder.AddKafkaClients();
        var mysql = ConnectionNames.Require(builder.Configuration, ConnectionNames.MySql);
        builder.Services.AddHealthChecks().AddMySql(mysql).AddS3();
        // The bucket's key prefix is the S3 sink's own setting (S3Sink:TopicsDir), so both read the one value.
        var topicsDir = builder.Configuration["S3Sink:TopicsDir"] is { Length: > 0 } dir ? dir : "topics";
        static string Topic(IServiceProvider sp) => sp.GetRequiredService<IOptions<MonitorOptions>>().Value.Topic;
        // The countries come from the same topic reader and tally as the Dashboard's, not from a GROUP BY every tick.
        builder.Services.AddCustomerTopicReader(Topic);
        builder.Services.AddSingleton(sp =>
        {
            var s3 = sp.GetRequiredService<IOptions<S3Options>>().Value;
            var client = s3.CreateClient();
            return new PipelineStatus(sp.GetRequiredService<NpgsqlDataSource>(), sp.GetRequiredService<KafkaClients>(), mysql, client,
                new LakeProgress(client, s3.Bucket, topicsDir, Topic(sp)), sp.GetRequiredService<CustomerTally>(), Topic(sp),
                sp.GetRequiredService<IOptions<MonitorOptions>>().Value.Table);
        });
        builder.Services.AddHostedService<StatusWorker>();
    }
}
