namespace KafkaPipeline.AppHost.Tests;

// What both runtimes must share: resource names, connection-string names and the wiring of every service.
public sealed class RuntimeModelTests
{
    // What each service reads; nothing else of its stores reaches it.
    public static TheoryData<string, string, string[]> Wiring() => new()
    {
        { "local", "generator", ["usersdb"] },
        { "local", "source", ["usersdb", "kafka"] },
        { "local", "mysql-sink", ["kafka", "emaildb"] },
        { "local", "s3-sink", ["kafka", "s3"] },
        { "local", "monitor", ["usersdb", "kafka", "emaildb", "s3"] },
        { "local", "dashboard", ["kafka"] },
        { "containers", "generator", ["usersdb"] },
        { "containers", "source", ["usersdb", "kafka"] },
        { "containers", "mysql-sink", ["kafka", "emaildb"] },
        { "containers", "s3-sink", ["kafka", "s3"] },
        { "containers", "monitor", ["usersdb", "kafka", "emaildb", "s3"] },
        { "containers", "dashboard", ["kafka"] },
    };

    [Theory]
    [InlineData("local")]
    [InlineData("containers")]
    public async Task Both_runtimes_declare_the_same_servers_databases_and_services(string runtime)
    {
        await using var builder = await AppHostModel.CreateAsync(runtime);

        foreach (var name in (string[])["postgres", "mysql", .. AppHostModel.Stores, .. AppHostModel.Services])
            Assert.Single(builder.Resources, r => r.Name == name);
        Assert.Same(AppHostModel.Single<IResource>(builder, "postgres"),
            Assert.IsAssignableFrom<IResourceWithParent>(AppHostModel.Single<IResource>(builder, "usersdb")).Parent);
        Assert.Same(AppHostModel.Single<IResource>(builder, "mysql"),
            Assert.IsAssignableFrom<IResourceWithParent>(AppHostModel.Single<IResource>(builder, "emaildb")).Parent);
        foreach (var store in AppHostModel.Stores.Append("postgres").Append("mysql"))
            Assert.NotEmpty(AppHostModel.Single<IResource>(builder, store).Annotations.OfType<HealthCheckAnnotation>());
    }

    [Theory]
    [MemberData(nameof(Wiring))]
    public async Task Each_service_gets_only_the_connection_strings_it_reads_and_waits_for_those_stores(string runtime, string service, string[] stores)
    {
        await using var builder = await AppHostModel.CreateAsync(runtime);
        var project = AppHostModel.Single<ProjectResource>(builder, service);

        var env = await AppHostModel.EnvironmentAsync(project);
        var connectionStrings = env.Keys.Where(k => k.StartsWith("ConnectionStrings__", StringComparison.Ordinal)).Order().ToList();
        Assert.Equal(stores.Select(s => $"ConnectionStrings__{s}").Order(), connectionStrings);
        foreach (var store in stores)
        {
            Assert.Equal($"{{{store}.connectionString}}", env[$"ConnectionStrings__{store}"]);
            AppHostModel.AssertWaitsUntilHealthy(project, store);
        }
        // No USERSDB_HOST, KAFKA_PORT, services__... : WithReference injects only the connection string.
        // KAFKAPIPELINE_RUN: the run id by which the AppHost finds a service whose launcher died (ServiceReaper).
        var allowed = new HashSet<string>(connectionStrings) { "Protection__Key", "KAFKAPIPELINE_RUN" };
        if (service == "dashboard") allowed.UnionWith(["Dashboard__BrowserToken", "Dashboard__WallToken"]); // its login
        var stray = env.Keys.Where(k => !allowed.Contains(k) && !k.StartsWith("OTEL_", StringComparison.Ordinal)
            && !k.StartsWith("ASPNETCORE_", StringComparison.Ordinal) && !k.StartsWith("DOTNET_", StringComparison.Ordinal)
            && k is not ("HTTP_PORTS" or "LOGGING__CONSOLE__FORMATTEROPTIONS__TIMESTAMPFORMAT")).ToList();
        Assert.True(stray.Count == 0, $"{service} gets variables it does not read: {string.Join(", ", stray)}");
        Assert.Single(project.Annotations.OfType<EndpointAnnotation>(), e => e.Name == "http");
        Assert.NotEmpty(project.Annotations.OfType<HealthCheckAnnotation>());
    }

    [Theory]
    [InlineData("local")]
    [InlineData("containers")]
    public async Task Both_sinks_get_the_protection_key_as_a_secret_parameter_and_run_as_many_replicas_as_asked(string runtime)
    {
        await using var builder = await AppHostModel.CreateAsync(runtime, "--Pipeline:SinkReplicas=2");

        var key = AppHostModel.Single<ParameterResource>(builder, "protection-key");
        Assert.True(key.Secret);
        foreach (var sink in new[] { "mysql-sink", "s3-sink" })
        {
            var project = AppHostModel.Single<ProjectResource>(builder, sink);
            Assert.Equal("{protection-key.value}", (await AppHostModel.EnvironmentAsync(project))["Protection__Key"]);
            Assert.Equal(2, Assert.Single(project.Annotations.OfType<ReplicaAnnotation>()).Replicas);
        }
        foreach (var other in new[] { "generator", "source", "monitor" })
            Assert.DoesNotContain("Protection__Key", (await AppHostModel.EnvironmentAsync(AppHostModel.Single<ProjectResource>(builder, other))).Keys);
    }

    [Fact]
    public async Task Service_settings_given_to_the_AppHost_are_passed_to_that_service_only()
    {
        await using var builder = await AppHostModel.CreateAsync("local", "--Generator:RatePerSecond=200", "--S3Sink:FlushSize=10");

        var generator = await AppHostModel.EnvironmentAsync(AppHostModel.Single<ProjectResource>(builder, "generator"));
        var s3Sink = await AppHostModel.EnvironmentAsync(AppHostModel.Single<ProjectResource>(builder, "s3-sink"));
        Assert.Equal("200", generator["Generator__RatePerSecond"]);
        Assert.Equal("10", s3Sink["S3Sink__FlushSize"]);
        Assert.DoesNotContain("S3Sink__FlushSize", generator.Keys);
        Assert.DoesNotContain("Generator__RatePerSecond", s3Sink.Keys);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("9")]
    [InlineData("two")]
    public async Task A_bad_replica_count_stops_the_AppHost_naming_the_setting(string value)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => AppHostModel.CreateAsync("local", $"--Pipeline:SinkReplicas={value}"));
        Assert.Contains("Pipeline:SinkReplicas", Flatten(error), StringComparison.Ordinal);
    }

    internal static string Flatten(Exception e) => e.InnerException is null ? e.Message : e.Message + " / " + Flatten(e.InnerException);
}
