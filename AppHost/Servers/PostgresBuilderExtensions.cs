using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace KafkaPipeline.AppHost.Servers;

internal static class PostgresBuilderExtensions
{
    /// <summary>
    /// containers: Aspire.Hosting.PostgreSQL with the pinned image, logical WAL and commit timestamps (what a change-capture
    /// source needs), and an init script that admits replication connections from the host (run mode only: the init
    /// folder is a bind mount, which publishers such as Kubernetes' cannot express).
    /// </summary>
    public static IResourceBuilder<PostgresServerResource> AddPostgresContainer(this IDistributedApplicationBuilder builder,
        string name, IResourceBuilder<ParameterResource> password)
    {
        var postgres = builder.AddPostgres(name, password: password)
            .WithImage(ServerImages.Postgres, ServerImages.PostgresTag)
            .WithArgs("-c", "wal_level=logical", "-c", "track_commit_timestamp=on");
        if (builder.ExecutionContext.IsRunMode)
            postgres.WithInitFiles(Path.Combine(builder.AppHostDirectory, "postgres-init"));
        return postgres;
    }

    /// <summary>
    /// local: initdb on first start (as postgres), then the server with the same settings as the container, listening on
    /// 127.0.0.1 only; once it answers, the application role (LOGIN REPLICATION CREATEDB) and the databases are created.
    /// </summary>
    public static IResourceBuilder<PostgresLocalResource> AddLocalPostgres(this IDistributedApplicationBuilder builder,
        string name, LocalServers local)
    {
        var (command, runAs) = LocalProcesses.AsUser("postgres", Path.Combine(local.PostgresBin, "postgres"));
        var resource = new PostgresLocalResource(name, command, local.DirectoryFor("postgres"), local);
        var healthKey = $"{name}_check";
        builder.Services.AddHealthChecks().AddAsyncCheck(healthKey, async ct =>
        {
            try
            {
                await using var conn = new NpgsqlConnection(SuperuserConnectionString(resource));
                await conn.OpenAsync(ct);
                return HealthCheckResult.Healthy();
            }
            catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
            {
                return HealthCheckResult.Unhealthy("PostgreSQL does not answer yet", e);
            }
        });

        return builder.AddResource(resource)
            .WithEndpoint(port: local.PostgresPort, name: PostgresLocalResource.EndpointName, isProxied: false)
            .WithArgs(runAs)
            .WithArgs(context =>
            {
                context.Args.Add("-D");
                context.Args.Add(resource.DataDirectory);
                foreach (var setting in new object[]
                {
                    "listen_addresses=127.0.0.1",
                    ReferenceExpression.Create($"port={resource.PrimaryEndpoint.Property(EndpointProperty.TargetPort)}"),
                    $"unix_socket_directories={resource.SocketDirectory}",
                    "wal_level=logical", "track_commit_timestamp=on", "max_replication_slots=20", "max_wal_senders=20",
                    "max_connections=200",
                })
                {
                    context.Args.Add("-c");
                    context.Args.Add(setting);
                }
            })
            .OnBeforeResourceStarted(async (r, e, ct) =>
            {
                LocalProcesses.OwnedDirectory(r.WorkingDirectory, "postgres");
                LocalProcesses.OwnedDirectory(r.SocketDirectory, "postgres");
                if (File.Exists(Path.Combine(r.DataDirectory, "PG_VERSION"))) return;
                // trust on the Unix socket only (its folder is the postgres user's alone); passwords over TCP.
                await LocalProcesses.RunAsync("postgres", Path.Combine(local.PostgresBin, "initdb"),
                    ["-D", r.DataDirectory, "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
                     "--auth-local=trust", "--auth-host=scram-sha-256"],
                    e.Services.GetRequiredService<ResourceLoggerService>().GetLogger(r), ct);
            })
            .OnResourceReady(async (r, _, ct) =>
            {
                await using var conn = new NpgsqlConnection(SuperuserConnectionString(r));
                await conn.OpenAsync(ct);
                await Execute(conn, $"""
                    DO $$ BEGIN
                      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{local.DatabaseUser}') THEN
                        CREATE ROLE "{local.DatabaseUser}";
                      END IF;
                    END $$;
                    ALTER ROLE "{local.DatabaseUser}" LOGIN REPLICATION CREATEDB PASSWORD '{local.DatabasePassword}';
                    """, ct);
                foreach (var database in r.Databases.Values)
                {
                    await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", conn) { Parameters = { new() { Value = database } } };
                    if (await exists.ExecuteScalarAsync(ct) is null)
                        await Execute(conn, $"""CREATE DATABASE "{database}" OWNER "{local.DatabaseUser}" """, ct);
                }
            })
            .WithHealthCheck(healthKey);
    }

    /// <summary>A database of the local server: created once the server answers, healthy once the role can reach it.</summary>
    public static IResourceBuilder<PostgresLocalDatabaseResource> AddDatabase(this IResourceBuilder<PostgresLocalResource> server,
        string name, string databaseName)
    {
        LocalNames.Check(databaseName);
        server.Resource.Databases[name] = databaseName;
        var database = new PostgresLocalDatabaseResource(name, databaseName, server.Resource);
        var healthKey = $"{name}_check";
        server.ApplicationBuilder.Services.AddHealthChecks().AddAsyncCheck(healthKey, async ct =>
        {
            try
            {
                await using var conn = new NpgsqlConnection(await database.ConnectionStringExpression.GetValueAsync(ct));
                await conn.OpenAsync(ct);
                return HealthCheckResult.Healthy();
            }
            catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
            {
                return HealthCheckResult.Unhealthy($"database {databaseName} not reachable yet", e);
            }
        });
        return server.ApplicationBuilder.AddResource(database)
            .WithStateOfParent()
            .WithHealthCheck(healthKey);
    }

    private static string SuperuserConnectionString(PostgresLocalResource r) => new NpgsqlConnectionStringBuilder
    {
        Host = r.SocketDirectory,
        Port = r.PrimaryEndpoint.Port,
        Username = "postgres",
        Database = "postgres",
        Pooling = false,
    }.ConnectionString;

    private static async Task Execute(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}

/// <summary>Names the local runtime writes into SQL: plain identifiers only (checked when the model is built).</summary>
internal static class LocalNames
{
    public static string Check(string name) =>
        System.Text.RegularExpressions.Regex.IsMatch(name, @"\A[A-Za-z_][A-Za-z0-9_]{0,62}\z")
            ? name
            : throw new DistributedApplicationException($"'{name}' is not a plain identifier (letters, digits, _; at most 63).");
}
