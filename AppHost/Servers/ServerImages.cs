namespace KafkaPipeline.AppHost.Servers;

/// <summary>Pinned images of the containers runtime (never "latest": a new tag is a reviewed change).</summary>
internal static class ServerImages
{
    // Aspire.Hosting.PostgreSQL 13.6's own default.
    public const string Postgres = "postgres";
    public const string PostgresTag = "18.3";

    // What Aspire.Hosting.Kafka 13.6 uses (that package is not served here, so its shape is rebuilt in KafkaServers).
    public const string Kafka = "confluentinc/confluent-local";
    public const string KafkaTag = "8.2.0";

    public const string Kafdrop = "obsidiandynamics/kafdrop";
    public const string KafdropTag = "4.2.0";

    // What Aspire.Hosting.MySql 13.6 uses (not served here either).
    public const string MySql = "mysql";
    public const string MySqlTag = "9.7";

    // Later tags need a LocalStack auth token.
    public const string LocalStack = "localstack/localstack";
    public const string LocalStackTag = "4.12.0";
}
