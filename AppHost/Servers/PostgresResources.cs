namespace KafkaPipeline.AppHost.Servers;

/// <summary>
/// PostgreSQL 15 (Debian's package) as a process of the local runtime, the counterpart of Aspire.Hosting.PostgreSQL's
/// container. Its connection string is the application role's, on 127.0.0.1 (the only address it listens on).
/// </summary>
public sealed class PostgresLocalResource(string name, string command, string workingDirectory, LocalServers local)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public const string EndpointName = "tcp";

    public EndpointReference PrimaryEndpoint => new(this, EndpointName);

    public LocalServers Local { get; } = local;

    public string DataDirectory => Path.Combine(WorkingDirectory, "data");

    /// <summary>The Unix socket folder: the AppHost sets the server up through it as the postgres superuser.</summary>
    public string SocketDirectory => Path.Combine(WorkingDirectory, "run");

    public Dictionary<string, string> Databases { get; } = [];

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"Host=127.0.0.1;Port={PrimaryEndpoint.Property(EndpointProperty.Port)};Username={Local.DatabaseUser};Password={Local.DatabasePassword}");
}

/// <summary>A database of <see cref="PostgresLocalResource"/> (created by the AppHost once the server is up).</summary>
public sealed class PostgresLocalDatabaseResource(string name, string databaseName, PostgresLocalResource parent)
    : Resource(name), IResourceWithParent<PostgresLocalResource>, IResourceWithConnectionString
{
    public PostgresLocalResource Parent { get; } = parent;

    public string DatabaseName { get; } = databaseName;

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create($"{Parent};Database={DatabaseName}");
}
