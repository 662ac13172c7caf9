namespace KafkaPipeline.AppHost.Tests;

// The local runtime's model: the servers eng/install.sh installs, as executables, never started here.
public sealed class LocalModelTests
{
    [Fact]
    public async Task Servers_run_as_their_own_users_from_the_installed_programs()
    {
        await using var builder = await AppHostModel.CreateAsync("local");

        var postgres = AppHostModel.Single<ExecutableResource>(builder, "postgres");
        var postgresArgs = await AppHostModel.ArgumentsAsync(postgres);
        if (Environment.UserName == "root")
        {
            // PostgreSQL refuses to run as root: setpriv switches to the postgres user's uid and gid first.
            Assert.Equal("/usr/bin/setpriv", postgres.Command);
            var postgresUid = File.ReadLines("/etc/passwd").Select(l => l.Split(':')).Single(f => f[0] == "postgres")[2];
            Assert.Contains($"--reuid={postgresUid}", postgresArgs);
            Assert.Contains("/usr/lib/postgresql/15/bin/postgres", postgresArgs);
        }
        else
        {
            Assert.Equal("/usr/lib/postgresql/15/bin/postgres", postgres.Command);
        }
        Assert.Contains("wal_level=logical", postgresArgs);
        Assert.Contains("listen_addresses=127.0.0.1", postgresArgs);
        Assert.Contains("/usr/sbin/mariadbd", await AppHostModel.ArgumentsAsync(AppHostModel.Single<ExecutableResource>(builder, "mysql")));
        var s3Args = await AppHostModel.ArgumentsAsync(AppHostModel.Single<ExecutableResource>(builder, "s3"));
        Assert.Contains(s3Args, a => a.EndsWith("eng/s3/node_modules/s3rver/bin/s3rver.js", StringComparison.Ordinal));
        Assert.Contains("--openssl-legacy-provider", s3Args);
        var kafka = AppHostModel.Single<ExecutableResource>(builder, "kafka");
        Assert.Equal("dotnet", kafka.Command);
        var kafkaArgs = await AppHostModel.ArgumentsAsync(kafka);
        Assert.EndsWith("EmbeddedKafka.dll", kafkaArgs[0], StringComparison.Ordinal);
        Assert.Contains("P_USERS:4", kafkaArgs);
    }

    [Fact]
    public async Task Under_the_defaults_the_servers_listen_on_the_documented_ports()
    {
        await using var builder = await AppHostModel.CreateAsync("local");

        Assert.Equal(5432, Endpoint(builder, "postgres", "tcp").Port);
        Assert.Equal(3306, Endpoint(builder, "mysql", "tcp").Port);
        Assert.Equal(4566, Endpoint(builder, "s3", "http").Port);
        Assert.Equal(5080, Endpoint(builder, "dashboard", "http").Port); // the Dashboard's page, printed by ./run.sh
        Assert.True(Endpoint(builder, "dashboard", "http").IsExternal);
        Assert.Contains(Path.Combine(".data", "apphost", "postgres"), AppHostModel.Single<ExecutableResource>(builder, "postgres").WorkingDirectory, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Port_zero_means_any_free_port()
    {
        await using var builder = await AppHostModel.CreateAsync("local",
            "--LocalRuntime:PostgresPort=0", "--LocalRuntime:MySqlPort=0", "--LocalRuntime:S3Port=0", "--AppHost:DashboardPort=0");
        Assert.Null(Endpoint(builder, "dashboard", "http").Port);

        foreach (var (name, endpoint) in new[] { ("postgres", "tcp"), ("mysql", "tcp"), ("s3", "http") })
        {
            var annotation = Endpoint(builder, name, endpoint);
            Assert.Null(annotation.Port);
            Assert.False(annotation.IsProxied); // the server itself owns its port
        }
    }

    [Fact]
    public async Task Connection_strings_carry_the_documented_development_credentials()
    {
        await using var builder = await AppHostModel.CreateAsync("local");

        Assert.Equal("Host=127.0.0.1;Port={postgres.bindings.tcp.port};Username=TEST;Password=password;Database=TEST",
            AppHostModel.ConnectionExpression(builder, "usersdb").Replace("{postgres.connectionString}",
                AppHostModel.ConnectionExpression(builder, "postgres"), StringComparison.Ordinal));
        Assert.Equal("{mysql.connectionString};Database=TEST", AppHostModel.ConnectionExpression(builder, "emaildb"));
        Assert.StartsWith("Server=127.0.0.1;Port={mysql.bindings.tcp.port};User ID=TEST;Password=password;SslMode=None",
            AppHostModel.ConnectionExpression(builder, "mysql"), StringComparison.Ordinal);
        Assert.Equal("Endpoint=http://127.0.0.1:{s3.bindings.http.port};Bucket=users-lake;AccessKey=S3RVER;SecretKey=S3RVER",
            AppHostModel.ConnectionExpression(builder, "s3"));
        Assert.Equal("{kafka.bootstrapServers}", AppHostModel.ConnectionExpression(builder, "kafka"));
    }

    [Fact]
    public async Task A_bad_port_stops_the_AppHost_naming_the_setting()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => AppHostModel.CreateAsync("local", "--LocalRuntime:MySqlPort=70000"));
        Assert.Contains("LocalRuntime:MySqlPort", RuntimeModelTests.Flatten(error), StringComparison.Ordinal);
    }

    private static EndpointAnnotation Endpoint(IDistributedApplicationTestingBuilder builder, string resource, string name) =>
        Assert.Single(AppHostModel.Single<IResource>(builder, resource).Annotations.OfType<EndpointAnnotation>(), e => e.Name == name);
}
