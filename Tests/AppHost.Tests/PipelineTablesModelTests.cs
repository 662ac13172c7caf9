namespace KafkaPipeline.AppHost.Tests;

// Pipeline:Tables: one setting for the whole pipeline, handed to every service that reads it, a topic and a dead-letter
// topic per table in the Kafka of either runtime.
public sealed class PipelineTablesModelTests
{
    private static readonly string[] s_readers = ["source", "mysql-sink", "s3-sink", "monitor", "dashboard"];

    [Theory]
    [InlineData("local")]
    [InlineData("containers")]
    public async Task Every_service_that_reads_the_tables_gets_them_and_the_generator_does_not(string runtime)
    {
        await using var builder = await AppHostModel.CreateAsync(runtime, "--Pipeline:Tables= users , orders");

        foreach (var service in s_readers)
            Assert.Equal("users,orders", (await AppHostModel.EnvironmentAsync(AppHostModel.Single<ProjectResource>(builder, service)))["Pipeline__Tables"]);
        // It writes users only.
        Assert.DoesNotContain("Pipeline__Tables", (await AppHostModel.EnvironmentAsync(AppHostModel.Single<ProjectResource>(builder, "generator"))).Keys);
    }

    [Fact]
    public async Task Without_the_setting_the_pipeline_carries_users()
    {
        await using var builder = await AppHostModel.CreateAsync("local");

        foreach (var service in s_readers)
            Assert.Equal("users", (await AppHostModel.EnvironmentAsync(AppHostModel.Single<ProjectResource>(builder, service)))["Pipeline__Tables"]);
        var args = await AppHostModel.ArgumentsAsync(AppHostModel.Single<ExecutableResource>(builder, "kafka"));
        Assert.Equal(["P_USERS:4", "P_USERS.dlq:1"], TopicArguments(args));
    }

    [Fact]
    public async Task The_embedded_Kafka_starts_with_each_tables_topic_over_4_partitions_and_its_dead_letter_topic()
    {
        await using var builder = await AppHostModel.CreateAsync("local", "--Pipeline:Tables=users,orders,sales.orders");

        var args = await AppHostModel.ArgumentsAsync(AppHostModel.Single<ExecutableResource>(builder, "kafka"));
        Assert.Equal(["P_USERS:4", "P_USERS.dlq:1", "P_ORDERS:4", "P_ORDERS.dlq:1", "P_SALES_ORDERS:4", "P_SALES_ORDERS.dlq:1"], TopicArguments(args));
    }

    [Fact]
    public async Task The_topics_follow_the_sources_topic_prefix()
    {
        await using var builder = await AppHostModel.CreateAsync("local", "--Pipeline:Tables=users,orders", "--Source:TopicPrefix=CDC_");

        var args = await AppHostModel.ArgumentsAsync(AppHostModel.Single<ExecutableResource>(builder, "kafka"));
        Assert.Equal(["CDC_USERS:4", "CDC_USERS.dlq:1", "CDC_ORDERS:4", "CDC_ORDERS.dlq:1"], TopicArguments(args));
    }

    [Fact]
    public async Task The_containers_Kafka_is_told_the_same_topics_and_creates_them_once_it_answers()
    {
        await using var builder = await AppHostModel.CreateAsync("containers", "--Pipeline:Tables=users,orders");

        var kafka = AppHostModel.Single<ContainerResource>(builder, "kafka");
        var topics = Assert.Single(kafka.Annotations.OfType<PipelineTopicsAnnotation>()).Topics;
        Assert.Equal([new("P_USERS", 4), new("P_USERS.dlq", 1), new("P_ORDERS", 4), new("P_ORDERS.dlq", 1)], topics);
        // A ready handler creates them; every service's WaitFor waits until it is done.
        foreach (var service in s_readers) AppHostModel.AssertWaitsUntilHealthy(AppHostModel.Single<ProjectResource>(builder, service), "kafka");
    }

    [Theory]
    [InlineData("users;orders")]
    [InlineData("")]
    [InlineData("users,users")]
    [InlineData("a.b.c")]
    [InlineData("orders,public.orders")]
    public async Task A_bad_table_list_stops_the_AppHost_naming_the_setting(string value)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => AppHostModel.CreateAsync("local", $"--Pipeline:Tables={value}"));
        Assert.Contains("Pipeline:Tables", RuntimeModelTests.Flatten(error), StringComparison.Ordinal);
    }

    private static List<string> TopicArguments(List<string> args) =>
        [.. args.Select((a, i) => (a, i)).Where(x => x.a == "--topic").Select(x => args[x.i + 1])];
}
