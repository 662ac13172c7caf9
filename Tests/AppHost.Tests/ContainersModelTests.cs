namespace KafkaPipeline.AppHost.Tests;

// The containers runtime (a machine with Docker or Podman), checked without any container engine.
public sealed class ContainersModelTests
{
    [Theory]
    [InlineData("postgres", "postgres", "18.3")]
    [InlineData("kafka", "confluentinc/confluent-local", "8.2.0")]
    [InlineData("kafdrop", "obsidiandynamics/kafdrop", "4.2.0")]
    [InlineData("mysql", "mysql", "9.7")]
    [InlineData("s3", "localstack/localstack", "4.12.0")]
    public async Task Containers_use_pinned_images(string resource, string image, string tag)
    {
        await using var builder = await AppHostModel.CreateAsync("containers");

        var annotation = Assert.Single(AppHostModel.Single<ContainerResource>(builder, resource).Annotations.OfType<ContainerImageAnnotation>());
        Assert.Equal(image, annotation.Image);
        Assert.Equal(tag, annotation.Tag);
    }

    [Fact]
    public async Task Connection_strings_have_the_shapes_of_Aspires_Kafka_MySQL_and_PostgreSQL_integrations()
    {
        await using var builder = await AppHostModel.CreateAsync("containers");

        Assert.Equal("{kafka.bindings.tcp.host}:{kafka.bindings.tcp.port}", AppHostModel.ConnectionExpression(builder, "kafka"));
        Assert.Equal("Server={mysql.bindings.tcp.host};Port={mysql.bindings.tcp.port};User ID=root;Password={mysql-password.value}",
            AppHostModel.ConnectionExpression(builder, "mysql"));
        Assert.Equal("{mysql.connectionString};Database=TEST", AppHostModel.ConnectionExpression(builder, "emaildb"));
        Assert.Equal("{postgres.connectionString};Database=TEST", AppHostModel.ConnectionExpression(builder, "usersdb"));
        Assert.Equal("Endpoint={s3.bindings.http.url};Bucket=users-lake;AccessKey=test;SecretKey=test", AppHostModel.ConnectionExpression(builder, "s3"));
        Assert.True(AppHostModel.Single<ParameterResource>(builder, "postgres-password").Secret);
        Assert.True(AppHostModel.Single<ParameterResource>(builder, "mysql-password").Secret);
    }

    [Fact]
    public async Task Kafka_has_a_host_and_an_internal_listener_and_Kafdrop_uses_the_internal_one()
    {
        await using var builder = await AppHostModel.CreateAsync("containers");
        var kafka = AppHostModel.Single<ContainerResource>(builder, "kafka");
        var kafdrop = AppHostModel.Single<ContainerResource>(builder, "kafdrop");

        Assert.Equal(9092, Assert.Single(kafka.Annotations.OfType<EndpointAnnotation>(), e => e.Name == "tcp").TargetPort);
        Assert.Equal(9093, Assert.Single(kafka.Annotations.OfType<EndpointAnnotation>(), e => e.Name == "internal").TargetPort);
        Assert.Contains("PLAINTEXT_INTERNAL://0.0.0.0:9093", (await AppHostModel.EnvironmentAsync(kafka))["KAFKA_LISTENERS"], StringComparison.Ordinal);
        Assert.Equal("kafka:{kafka.bindings.internal.targetPort}", (await AppHostModel.EnvironmentAsync(kafdrop))["KAFKA_BROKERCONNECT"]);
        Assert.Equal(9000, Assert.Single(kafdrop.Annotations.OfType<EndpointAnnotation>(), e => e.Name == "http").TargetPort);
        Assert.NotEmpty(kafdrop.Annotations.OfType<HealthCheckAnnotation>());
        AppHostModel.AssertWaitsUntilHealthy(kafdrop, "kafka");
    }

    [Fact]
    public async Task Postgres_runs_with_logical_wal_and_LocalStack_serves_only_s3_on_4566()
    {
        await using var builder = await AppHostModel.CreateAsync("containers");

        var args = await AppHostModel.ArgumentsAsync(AppHostModel.Single<ContainerResource>(builder, "postgres"));
        Assert.Equal("-c", args[args.IndexOf("wal_level=logical") - 1]);
        Assert.Contains("track_commit_timestamp=on", args);
        var s3 = AppHostModel.Single<ContainerResource>(builder, "s3");
        Assert.Equal(4566, Assert.Single(s3.Annotations.OfType<EndpointAnnotation>(), e => e.Name == "http").TargetPort);
        Assert.Equal("s3", (await AppHostModel.EnvironmentAsync(s3))["SERVICES"]);
    }

    [Fact]
    public async Task The_replication_init_script_is_mounted_in_run_mode_only()
    {
        await using var run = await AppHostModel.CreateAsync("containers");
        await using var publish = await AppHostModel.CreateAsync("containers", "--publisher", "manifest", "--output-path", Path.GetTempFileName());

        Assert.True(InitAnnotations(AppHostModel.Single<ContainerResource>(run, "postgres")) > 0);
        Assert.Equal(0, InitAnnotations(AppHostModel.Single<ContainerResource>(publish, "postgres")));

        static int InitAnnotations(IResource postgres) =>
            postgres.Annotations.Count(a => a is ContainerMountAnnotation or ContainerFileSystemCallbackAnnotation);
    }
}
