namespace KafkaPipeline.AppHost.Servers;

/// <summary>A MySQL-protocol server: MariaDB as a local process, or MySQL as a container. Databases hang below it.</summary>
public interface IMySqlServerResource : IResourceWithConnectionString
{
    /// <summary>Resource name -> database name, created by the AppHost once the server answers.</summary>
    Dictionary<string, string> Databases { get; }
}

/// <summary>
/// MySQL in a container (the shape of Aspire.Hosting.MySql, which is not served here): user root, password from a
/// secret parameter, "Server=;Port=;User ID=root;Password=" like that integration's connection string.
/// </summary>
public sealed class MySqlContainerResource(string name, ParameterResource password) : ContainerResource(name), IMySqlServerResource
{
    public const string EndpointName = "tcp";

    public EndpointReference PrimaryEndpoint => new(this, EndpointName);

    public ParameterResource PasswordParameter { get; } = password;

    public Dictionary<string, string> Databases { get; } = [];

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"Server={PrimaryEndpoint.Property(EndpointProperty.Host)};Port={PrimaryEndpoint.Property(EndpointProperty.Port)};User ID=root;Password={PasswordParameter}");
}

/// <summary>
/// MariaDB 10.11 (Debian's package, MySQL protocol) as a process of the local runtime, on 127.0.0.1 with the development
/// user. TLS off (SslMode=None) and LOAD DATA LOCAL allowed, as the server is started.
/// </summary>
public sealed class MariaDbResource(string name, string command, string workingDirectory, LocalServers local)
    : ExecutableResource(name, command, workingDirectory), IMySqlServerResource
{
    public const string EndpointName = "tcp";

    public EndpointReference PrimaryEndpoint => new(this, EndpointName);

    public LocalServers Local { get; } = local;

    public string DataDirectory => Path.Combine(WorkingDirectory, "data");

    public string RunDirectory => Path.Combine(WorkingDirectory, "run");

    public Dictionary<string, string> Databases { get; } = [];

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"Server=127.0.0.1;Port={PrimaryEndpoint.Property(EndpointProperty.Port)};User ID={Local.DatabaseUser};Password={Local.DatabasePassword};SslMode=None;AllowLoadLocalInfile=true");
}

/// <summary>A database of either MySQL server.</summary>
public sealed class MySqlDatabaseResource(string name, string databaseName, IMySqlServerResource parent)
    : Resource(name), IResourceWithParent<IMySqlServerResource>, IResourceWithConnectionString
{
    public IMySqlServerResource Parent { get; } = parent;

    public string DatabaseName { get; } = databaseName;

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create($"{Parent};Database={DatabaseName}");
}
