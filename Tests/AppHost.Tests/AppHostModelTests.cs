using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace KafkaPipeline.AppHost.Tests;

// The AppHost's application model, built but not started: no Docker, no containers, no ports.
public sealed class AppHostModelTests
{
    private static readonly string[] s_services = ["generator", "source", "mysql-sink", "s3-sink"];

    [Fact]
    public async Task Every_server_database_tool_and_service_is_declared()
    {
        await using var app = await BuildAsync();
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();

        Assert.Equal("TEST", Single<PostgresDatabaseResource>(model, "usersdb").DatabaseName);
        Assert.Same(Single<PostgresServerResource>(model, "postgres"), Single<PostgresDatabaseResource>(model, "usersdb").Parent);
        Single<KafkaServerResource>(model, "kafka");
        Single<ContainerResource>(model, "kafdrop");
        Assert.Equal("TEST", Single<MySqlDatabaseResource>(model, "emaildb").DatabaseName);
        Assert.Same(Single<MySqlServerResource>(model, "mysql"), Single<MySqlDatabaseResource>(model, "emaildb").Parent);
        Single<ContainerResource>(model, "localstack");
        foreach (var service in s_services)
        {
            Single<ProjectResource>(model, service);
        }

        // pgAdmin is opt-in (AppHost:UsePgAdmin).
        Assert.DoesNotContain(model.Resources, r => r.Name == "pgadmin");
    }

    [Fact]
    public async Task PgAdmin_is_added_when_enabled_in_configuration()
    {
        await using var app = await BuildAsync("--AppHost:UsePgAdmin=true");
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();

        Assert.Contains(model.Resources, r => r.Name == "pgadmin");
    }

    [Theory]
    [InlineData("kafdrop", "obsidiandynamics/kafdrop", "4.2.0")]
    [InlineData("localstack", "localstack/localstack", "4.12.0")]
    public async Task Tool_containers_use_pinned_images(string resource, string image, string tag)
    {
        await using var app = await BuildAsync();
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();

        var annotation = Assert.Single(Single<ContainerResource>(model, resource).Annotations.OfType<ContainerImageAnnotation>());
        Assert.Equal(image, annotation.Image);
        Assert.Equal(tag, annotation.Tag);
    }

    [Theory]
    [InlineData("postgres")]
    [InlineData("kafka")]
    [InlineData("mysql")]
    public async Task Server_containers_use_the_integrations_pinned_tags(string resource)
    {
        await using var app = await BuildAsync();
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();

        var annotation = Assert.Single(Single<ContainerResource>(model, resource).Annotations.OfType<ContainerImageAnnotation>());
        Assert.False(string.IsNullOrEmpty(annotation.Tag));
        Assert.NotEqual("latest", annotation.Tag);
    }

    [Fact]
    public async Task Passwords_are_secret_parameters()
    {
        await using var app = await BuildAsync();
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();

        var postgresPassword = Single<PostgresServerResource>(model, "postgres").PasswordParameter;
        var mysqlPassword = Single<MySqlServerResource>(model, "mysql").PasswordParameter;
        Assert.Equal("postgres-password", postgresPassword.Name);
        Assert.Equal("mysql-password", mysqlPassword.Name);
        Assert.True(postgresPassword.Secret);
        Assert.True(mysqlPassword.Secret);
    }

    [Fact]
    public async Task Postgres_runs_with_logical_wal()
    {
        await using var app = await BuildAsync();
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();

        var config = await ExecutionConfigurationBuilder.Create(Single<PostgresServerResource>(model, "postgres"))
            .WithArgumentsConfig()
            .BuildAsync(PublishContext(), NullLogger.Instance);
        var args = config.Arguments.Select(a => a.Value).ToList();

        var walLevel = args.IndexOf("wal_level=logical");
        Assert.True(walLevel > 0, $"wal_level=logical not in [{string.Join(' ', args)}]");
        Assert.Equal("-c", args[walLevel - 1]);
    }

    [Fact]
    public async Task LocalStack_serves_s3_on_4566_with_a_health_check()
    {
        await using var app = await BuildAsync();
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();
        var localstack = Single<ContainerResource>(model, "localstack");

        var endpoint = Assert.Single(localstack.Annotations.OfType<EndpointAnnotation>(), e => e.Name == "http");
        Assert.Equal(4566, endpoint.TargetPort);
        Assert.Equal("s3", (await EnvironmentAsync(localstack))["SERVICES"]);
        Assert.NotEmpty(localstack.Annotations.OfType<HealthCheckAnnotation>());
    }

    [Fact]
    public async Task Kafdrop_uses_the_internal_kafka_listener_and_exposes_its_web_port()
    {
        await using var app = await BuildAsync();
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();
        var kafdrop = Single<ContainerResource>(model, "kafdrop");

        Assert.Equal(9000, Assert.Single(kafdrop.Annotations.OfType<EndpointAnnotation>(), e => e.Name == "http").TargetPort);
        Assert.Equal("kafka:{kafka.bindings.internal.targetPort}", (await EnvironmentAsync(kafdrop))["KAFKA_BROKERCONNECT"]);
        AssertWaitsFor(kafdrop, "kafka");
    }

    [Theory]
    [InlineData("generator", new[] { "usersdb" })]
    [InlineData("source", new[] { "usersdb", "kafka" })]
    [InlineData("mysql-sink", new[] { "kafka", "emaildb" })]
    [InlineData("s3-sink", new[] { "kafka" })]
    public async Task Services_get_their_connection_strings_and_wait_for_those_servers(string service, string[] connections)
    {
        await using var app = await BuildAsync();
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();
        var project = Single<ProjectResource>(model, service);

        var env = await EnvironmentAsync(project);
        foreach (var name in connections)
        {
            // Publish mode renders references as manifest expressions instead of resolving them (nothing runs).
            Assert.True(env.TryGetValue($"ConnectionStrings__{name}", out var value), $"{service} lacks ConnectionStrings__{name}");
            Assert.Equal($"{{{name}.connectionString}}", value);
            AssertWaitsFor(project, name);
        }
    }

    [Fact]
    public async Task S3_sink_gets_the_localstack_endpoint_bucket_and_dev_credentials()
    {
        await using var app = await BuildAsync();
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();
        var project = Single<ProjectResource>(model, "s3-sink");

        var env = await EnvironmentAsync(project);
        Assert.Equal("{localstack.bindings.http.url}", env["S3__ServiceUrl"]);
        Assert.Equal("users-lake", env["S3__Bucket"]);
        Assert.False(string.IsNullOrEmpty(env["S3__AccessKey"]));
        Assert.False(string.IsNullOrEmpty(env["S3__SecretKey"]));
        AssertWaitsFor(project, "localstack");
    }

    [Fact]
    public async Task Services_have_an_http_endpoint_with_a_health_check()
    {
        await using var app = await BuildAsync();
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();

        foreach (var service in s_services)
        {
            var project = Single<ProjectResource>(model, service);
            Assert.Single(project.Annotations.OfType<EndpointAnnotation>(), e => e.Name == "http");
            Assert.NotEmpty(project.Annotations.OfType<HealthCheckAnnotation>());
        }
    }

    /// <summary>Runs AppHost.cs up to Build(): the model and its services exist; only StartAsync would launch anything.</summary>
    private static async Task<DistributedApplication> BuildAsync(params string[] args)
    {
        var appHost = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(args);
        return await appHost.BuildAsync();
    }

    private static T Single<T>(DistributedApplicationModel model, string name) where T : IResource
    {
        var resource = Assert.Single(model.Resources, r => r.Name == name);
        return Assert.IsAssignableFrom<T>(resource);
    }

    private static DistributedApplicationExecutionContext PublishContext() => new(DistributedApplicationOperation.Publish);

    private static async Task<Dictionary<string, string>> EnvironmentAsync(IResource resource)
    {
        var config = await ExecutionConfigurationBuilder.Create(resource)
            .WithEnvironmentVariablesConfig()
            .BuildAsync(PublishContext(), NullLogger.Instance);
        return config.EnvironmentVariables.ToDictionary(kv => kv.Key, kv => kv.Value);
    }

    private static void AssertWaitsFor(IResource resource, string dependency) =>
        Assert.Contains(resource.Annotations.OfType<WaitAnnotation>(),
            w => w.Resource.Name == dependency && w.WaitType == WaitType.WaitUntilHealthy);
}
