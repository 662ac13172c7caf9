using KafkaPipeline.AppHost.Servers;

namespace KafkaPipeline.AppHost;

/// <summary>The four stores the services connect to, by their connection-string names.</summary>
public sealed record PipelineStores(
    IResourceBuilder<IResourceWithConnectionString> UsersDb,
    IResourceBuilder<IResourceWithConnectionString> EmailDb,
    IResourceBuilder<IResourceWithConnectionString> Kafka,
    IResourceBuilder<IResourceWithConnectionString> S3);

internal static class PipelineStoresExtensions
{
    // Both databases are called TEST, as in the Kafka Connect tutorial this pipeline rebuilds.
    private const string DatabaseName = "TEST";

    /// <param name="topics">What Kafka holds before the services start: each table's topic and its dead-letter topic.</param>
    public static PipelineStores AddPipelineStores(this IDistributedApplicationBuilder builder, PipelineRuntime runtime,
        IReadOnlyList<PipelineTopic> topics) =>
        runtime == PipelineRuntime.Local ? builder.AddLocalStores(topics) : builder.AddContainerStores(topics);

    /// <summary>Servers as processes of this machine (what eng/install.sh installs), data under .data/.</summary>
    private static PipelineStores AddLocalStores(this IDistributedApplicationBuilder builder, IReadOnlyList<PipelineTopic> topics)
    {
        var local = LocalServers.FromConfiguration(builder);
        builder.PrepareLocalServers(local);
        return new PipelineStores(
            // PostgreSQL 15 with logical WAL and commit timestamps (what a change-capture source needs).
            UsersDb: builder.AddLocalPostgres("postgres", local).AddDatabase("usersdb", DatabaseName),
            // MariaDB 10.11 speaks the MySQL protocol (Oracle's MySQL is not packaged by Debian).
            EmailDb: builder.AddMariaDb("mysql", local).AddDatabase("emaildb", DatabaseName),
            // No Kafka broker can be installed here: librdkafka's mock cluster (EmbeddedKafka/) stands in.
            Kafka: builder.AddEmbeddedKafka("kafka", local, topics),
            // s3rver (npm) on LocalStack's port 4566.
            S3: builder.AddS3rver("s3", local));
    }

    /// <summary>Servers as containers with pinned images (ServerImages).</summary>
    private static PipelineStores AddContainerStores(this IDistributedApplicationBuilder builder, IReadOnlyList<PipelineTopic> topics)
    {
        // Passwords are secret parameters: generated on the first run and kept in the AppHost's user secrets.
        // No special characters, so they never need quoting inside a connection string.
        var postgresPassword = builder.AddParameter("postgres-password",
            new GenerateParameterDefault { MinLength = 22, Special = false }, secret: true, persist: true);
        var mysqlPassword = builder.AddParameter("mysql-password",
            new GenerateParameterDefault { MinLength = 22, Special = false }, secret: true, persist: true);

        var kafka = builder.AddKafkaContainer("kafka", topics);
        // Kafdrop: topics, partitions, consumer groups and messages in a browser (containers runtime only).
        builder.AddKafdrop("kafdrop", kafka);
        return new PipelineStores(
            UsersDb: builder.AddPostgresContainer("postgres", postgresPassword).AddDatabase("usersdb", DatabaseName),
            EmailDb: builder.AddMySqlContainer("mysql", mysqlPassword).AddDatabase("emaildb", DatabaseName),
            Kafka: kafka,
            S3: builder.AddLocalStack("s3"));
    }
}
