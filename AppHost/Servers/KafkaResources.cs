namespace KafkaPipeline.AppHost.Servers;

/// <summary>A Kafka cluster whose connection string is its bootstrap list ("host:port", as Aspire.Hosting.Kafka's).</summary>
public interface IKafkaServerResource : IResourceWithConnectionString;

/// <summary>
/// Kafka in a container (confluent-local, KRaft), the shape of Aspire.Hosting.Kafka (not served here): endpoint "tcp"
/// for the host, "internal" (9093) for other containers such as Kafdrop.
/// </summary>
public sealed class KafkaContainerResource(string name) : ContainerResource(name), IKafkaServerResource
{
    public const string PrimaryEndpointName = "tcp";
    public const string InternalEndpointName = "internal";

    public EndpointReference PrimaryEndpoint => new(this, PrimaryEndpointName);

    public EndpointReference InternalEndpoint => new(this, InternalEndpointName);

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{PrimaryEndpoint.Property(EndpointProperty.HostAndPort)}");
}

/// <summary>
/// The embedded Kafka of the local runtime: EmbeddedKafka/ (librdkafka's mock cluster) as a process. The mock picks
/// its brokers' ports itself, so the connection string is the bootstrap list the program writes to a file at start.
/// </summary>
public sealed class EmbeddedKafkaResource(string name, string command, string workingDirectory)
    : ExecutableResource(name, command, workingDirectory), IKafkaServerResource
{
    public string BootstrapFile => Path.Combine(WorkingDirectory, "bootstrap");

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create($"{new BootstrapServers(this)}");

    /// <summary>
    /// The program's bootstrap file, or null while it is not written yet. Never waits: Aspire resolves connection strings
    /// before it starts the program, and the services, which WaitFor the healthy cluster, only read it once it exists.
    /// </summary>
    private sealed class BootstrapServers(EmbeddedKafkaResource kafka) : IValueProvider, IManifestExpressionProvider
    {
        public string ValueExpression => $"{{{kafka.Name}.bootstrapServers}}";

        public async ValueTask<string?> GetValueAsync(CancellationToken cancellationToken = default) =>
            File.Exists(kafka.BootstrapFile) && (await File.ReadAllTextAsync(kafka.BootstrapFile, cancellationToken)).Trim() is { Length: > 0 } list
                ? list
                : null;
    }
}
