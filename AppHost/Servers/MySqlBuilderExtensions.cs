using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using MySqlConnector;

namespace KafkaPipeline.AppHost.Servers;

internal static class MySqlBuilderExtensions
{
    private static readonly string[] s_userHosts = ["%", "localhost", "127.0.0.1"];

    /// <summary>containers: MySQL with the pinned image, root password from the parameter.</summary>
    public static IResourceBuilder<MySqlContainerResource> AddMySqlContainer(this IDistributedApplicationBuilder builder,
        string name, IResourceBuilder<ParameterResource> password) =>
        builder.AddResource(new MySqlContainerResource(name, password.Resource))
            .WithImage(ServerImages.MySql, ServerImages.MySqlTag)
            .WithEndpoint(targetPort: 3306, name: MySqlContainerResource.EndpointName)
            .WithEnvironment("MYSQL_ROOT_PASSWORD", password)
            .WithMySqlSetUp();

    /// <summary>
    /// local: mariadb-install-db on first start, then mariadbd as user mysql on 127.0.0.1; an init file (re)creates the
    /// development user at every start.
    /// </summary>
    public static IResourceBuilder<MariaDbResource> AddMariaDb(this IDistributedApplicationBuilder builder, string name, LocalServers local)
    {
        var (command, runAs) = LocalProcesses.AsUser("mysql", local.MariaDbServer);
        var resource = new MariaDbResource(name, command, local.DirectoryFor("mariadb"), local);
        return builder.AddResource(resource)
            .WithEndpoint(port: local.MySqlPort, name: MariaDbResource.EndpointName, isProxied: false)
            .WithArgs(runAs)
            .WithArgs(context =>
            {
                foreach (var arg in new object[]
                {
                    "--no-defaults", $"--datadir={resource.DataDirectory}", $"--socket={resource.RunDirectory}/mysqld.sock",
                    $"--pid-file={resource.RunDirectory}/mysqld.pid", "--bind-address=127.0.0.1",
                    ReferenceExpression.Create($"--port={resource.PrimaryEndpoint.Property(EndpointProperty.TargetPort)}"),
                    "--skip-name-resolve", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
                    "--local-infile=1", "--max-connections=300", $"--init-file={resource.RunDirectory}/init.sql",
                })
                {
                    context.Args.Add(arg);
                }
            })
            .OnBeforeResourceStarted(async (r, e, ct) =>
            {
                LocalProcesses.OwnedDirectory(r.WorkingDirectory, "mysql");
                LocalProcesses.OwnedDirectory(r.RunDirectory, "mysql");
                var user = LocalNames.Check(local.DatabaseUser);
                // Runs at every start, before clients are accepted. GRANT ALL ON *.*: tests create databases of their own.
                var init = Path.Combine(r.RunDirectory, "init.sql");
                await File.WriteAllTextAsync(init, string.Concat(s_userHosts.Select(host => $"""
                    CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY '{local.DatabasePassword}';
                    ALTER USER '{user}'@'{host}' IDENTIFIED BY '{local.DatabasePassword}';
                    GRANT ALL ON *.* TO '{user}'@'{host}';

                    """)), ct);
                LocalProcesses.OwnedFile(init, "mysql");
                if (Directory.Exists(Path.Combine(r.DataDirectory, "mysql"))) return;
                await LocalProcesses.RunAsync("root", local.MariaDbInstall,
                    ["--no-defaults", $"--user={(LocalServers.RunningAsRoot ? "mysql" : Environment.UserName)}", $"--datadir={r.DataDirectory}",
                     "--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve"],
                    e.Services.GetRequiredService<ResourceLoggerService>().GetLogger(r), ct);
            })
            .WithMySqlSetUp();
    }

    public static IResourceBuilder<MySqlDatabaseResource> AddDatabase<T>(this IResourceBuilder<T> server, string name, string databaseName)
        where T : IMySqlServerResource
    {
        server.Resource.Databases[name] = LocalNames.Check(databaseName);
        var database = new MySqlDatabaseResource(name, databaseName, server.Resource);
        var healthKey = $"{name}_check";
        server.ApplicationBuilder.Services.AddHealthChecks().AddAsyncCheck(healthKey, ct => Ping(database, ct));
        var builder = server.ApplicationBuilder.AddResource(database).WithHealthCheck(healthKey);
        // Aspire mirrors a container's state onto its children itself.
        return server.Resource is ExecutableResource ? builder.WithStateOfParent() : builder;
    }

    /// <summary>A health check on the server, and its databases created (utf8mb4) once it answers.</summary>
    private static IResourceBuilder<T> WithMySqlSetUp<T>(this IResourceBuilder<T> server) where T : IMySqlServerResource
    {
        var healthKey = $"{server.Resource.Name}_check";
        server.ApplicationBuilder.Services.AddHealthChecks().AddAsyncCheck(healthKey, ct => Ping(server.Resource, ct));
        return server
            .WithHealthCheck(healthKey)
            .OnResourceReady(async (r, _, ct) =>
            {
                await using var conn = new MySqlConnection(await r.ConnectionStringExpression.GetValueAsync(ct));
                await conn.OpenAsync(ct);
                foreach (var database in r.Databases.Values)
                {
                    await using var cmd = new MySqlCommand(
                        $"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", conn);
                    await cmd.ExecuteNonQueryAsync(ct);
                }
            });
    }

    private static async Task<HealthCheckResult> Ping(IResourceWithConnectionString resource, CancellationToken ct)
    {
        try
        {
            await using var conn = new MySqlConnection(await resource.ConnectionStringExpression.GetValueAsync(ct));
            await conn.OpenAsync(ct);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is MySqlException or System.Net.Sockets.SocketException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy($"{resource.Name} not reachable yet", e);
        }
    }
}
