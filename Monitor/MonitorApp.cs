using Amazon.S3;
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
        builder.AddValidatedOptions<PipelineOptions>(PipelineOptions.Section); // the tables: Pipeline:Tables
        builder.AddS3Options();
        ConnectionNames.Require(builder.Configuration, ConnectionNames.Postgres);
        builder.AddNpgsqlDataSource(ConnectionNames.Postgres);
        builder.AddKafkaClients();
        var mysql = ConnectionNames.Require(builder.Configuration, ConnectionNames.MySql);
        builder.Services.AddHealthChecks().AddMySql(mysql).AddS3();
        // The bucket's key prefix is the S3 sink's own setting (S3Sink:TopicsDir), so both read the one value.
        var topicsDir = builder.Configuration["S3Sink:TopicsDir"] is { Length: > 0 } dir ? dir : "topics";
        static MonitorOptions Options(IServiceProvider sp) => sp.GetRequiredService<IOptions<MonitorOptions>>().Value;
        // The users table's countries come from the same topic reader and tally as the Dashboard's, not from a GROUP BY.
        builder.Services.AddCustomerTopicReader(sp => Options(sp).Topic);
        builder.Services.AddSingleton<IAmazonS3>(sp => sp.GetRequiredService<IOptions<S3Options>>().Value.CreateClient());
        builder.Services.AddSingleton(sp =>
        {
            var options = Options(sp);
            var bucket = sp.GetRequiredService<IOptions<S3Options>>().Value.Bucket;
            var s3 = sp.GetRequiredService<IAmazonS3>();
            var tables = sp.GetRequiredService<IOptions<PipelineOptions>>().Value.TableList
                .Select(t => new MonitoredTable(t, t.Topic(options.TopicPrefix), new LakeProgress(s3, bucket, topicsDir, t.Topic(options.TopicPrefix))))
                .ToList();
            return new PipelineStatus(sp.GetRequiredService<NpgsqlDataSource>(), sp.GetRequiredService<KafkaClients>(), mysql, tables,
                options.GroupsShown, options.Topic, sp.GetRequiredService<CustomerTally>());
        });
        builder.Services.AddHostedService<StatusWorker>();
    }
}
