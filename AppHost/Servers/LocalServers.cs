using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace KafkaPipeline.AppHost.Servers;

/// <summary>
/// Settings "LocalRuntime:*" of the local runtime: where its data lives, its ports (0 = any free port, what the tests
/// use; appsettings.json has the documented 5432/3306/4566), the development credentials, and the installed programs.
/// </summary>
public sealed class LocalServers
{
    public const string Section = "LocalRuntime";

    public required string RepositoryRoot { get; init; }
    public required string DataDirectory { get; init; }
    public bool FreshData { get; init; } = true;
    public int? PostgresPort { get; init; }
    public int? MySqlPort { get; init; }
    public int? S3Port { get; init; }

    // Local development values only (docs/getting-started.md, "What runs where"); the containers runtime uses secret parameters.
    public string DatabaseUser { get; init; } = "TEST";
    public string DatabasePassword { get; init; } = "password";
    public string S3AccessKey { get; init; } = "S3RVER"; // s3rver's fixed keys
    public string S3SecretKey { get; init; } = "S3RVER";
    public string Bucket { get; init; } = "users-lake";

    // Where Debian's packages put them (eng/install.sh); each can be set, e.g. LocalRuntime:PostgresBin.
    private const string DefaultPostgresBin = "/usr/lib/postgresql/15/bin";
    private const string DefaultMariaDbServer = "/usr/sbin/mariadbd";
    private const string DefaultMariaDbInstall = "/usr/bin/mariadb-install-db";
    private const string DefaultNode = "/usr/bin/node";

    public string PostgresBin { get; init; } = DefaultPostgresBin;
    public string MariaDbServer { get; init; } = DefaultMariaDbServer;
    public string MariaDbInstall { get; init; } = DefaultMariaDbInstall;
    public string Node { get; init; } = DefaultNode;
    public string S3rverScript => Path.Combine(RepositoryRoot, "eng", "s3", "node_modules", "s3rver", "bin", "s3rver.js");

    /// <summary>The EmbeddedKafka program, built with the AppHost in the same configuration.</summary>
    public static string EmbeddedKafkaDll =>
        Path.Combine(Path.GetDirectoryName(new Projects.EmbeddedKafka().ProjectPath)!, "bin",
            typeof(LocalServers).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug",
            "net10.0", "EmbeddedKafka.dll");

    /// <summary>The servers refuse to run as root (PostgreSQL) or should not: as root, each runs as its own user.</summary>
    public static bool RunningAsRoot => Environment.UserName == "root";

    public static LocalServers FromConfiguration(IDistributedApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(Section);
        var root = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
        int? Port(string key)
        {
            var text = section[key];
            if (string.IsNullOrEmpty(text)) return null;
            return int.TryParse(text, out var port) && port is >= 0 and <= 65535
                ? (port == 0 ? null : port)
                : throw new DistributedApplicationException($"{Section}:{key} must be a port number, or 0 for any free port (got '{text}').");
        }
        return new LocalServers
        {
            RepositoryRoot = root,
            DataDirectory = Path.GetFullPath(section["DataDirectory"] is { Length: > 0 } dir ? Path.Combine(root, dir) : Path.Combine(root, ".data", "apphost")),
            FreshData = section.GetValue("FreshData", true),
            PostgresPort = Port("PostgresPort"),
            MySqlPort = Port("MySqlPort"),
            S3Port = Port("S3Port"),
            PostgresBin = section["PostgresBin"] ?? DefaultPostgresBin,
            MariaDbServer = section["MariaDbServer"] ?? DefaultMariaDbServer,
            MariaDbInstall = section["MariaDbInstall"] ?? DefaultMariaDbInstall,
            Node = section["Node"] ?? DefaultNode,
        };
    }

    /// <summary>The folder of one server (its data, socket, logs), below <see cref="DataDirectory"/>.</summary>
    public string DirectoryFor(string server) => Path.Combine(DataDirectory, server);
}
