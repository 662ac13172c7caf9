using System.Globalization;
using KafkaPipeline.IntegrationTests.Infrastructure;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineConvergence;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Pipeline;

/// <summary>
/// Two instances of each sink (separate processes in one consumer group each) during a flow of 50,000 users with
/// updates: one instance frozen longer than the session timeout and then resumed, one killed, one added mid-flow.
/// Afterwards MySQL equals PostgreSQL field by field and every S3 offset is stored exactly once with no gap.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class SinkReplicaTests(ITestOutputHelper output)
{
    private const int Users = 50_000;
    private const string MySql1 = "MySqlSinkService#1", MySql2 = "MySqlSinkService#2", S31 = "S3SinkService#1", S32 = "S3SinkService#2";

    private static ServiceProcess StartSink(PipelineHarness h, string instance)
    {
        var (service, section) = instance.StartsWith("MySql", StringComparison.Ordinal)
            ? (PipelineHarness.MySqlSink, "MySqlSink") : (PipelineHarness.S3Sink, "S3Sink");
        // A frozen or killed member is noticed after 6 s (the embedded Kafka then waits that long for it at each rebalance).
        return h.StartInstance(service, instance, ($"{section}:ConsumerOverrides:session.timeout.ms", "6000"), ($"{section}:SummaryInterval", "00:00:05"));
    }

    private static async Task StartFlowAsync(PipelineHarness h, params string[] sinks)
    {
        foreach (var sink in sinks) StartSink(h, sink);
        foreach (var sink in sinks) await h[sink].WaitForOutputAsync($"Opened {PipelineHarness.Topic} partition", TimeSpan.FromSeconds(90));
        h.StartSource("TimestampIncrementing");
        // About 25 s of flow: what happens to one instance happens while the others still have work.
        h.StartGenerator(totalCount: Users, ratePerSecond: 2_000, maxBatchSize: 1_000, updateFraction: 0.2);
        await WaitForBothGroupsAsync(h, 10_000);
    }

    private static async Task WaitForBothGroupsAsync(PipelineHarness h, long records)
    {
        foreach (var group in new[] { "mysql-sink", "s3-sink" })
        {
            await WaitUntilAsync($"{group} to commit {records:N0} records",
                () => Task.Run(() => CommittedTotal(h.Bootstrap, group, PipelineHarness.Topic, PipelineHarness.Partitions) >= records),
                Patience, () => Task.FromResult(CommittedTotal(h.Bootstrap, group, PipelineHarness.Topic, PipelineHarness.Partitions).ToString(CultureInfo.InvariantCulture)),
                TimeSpan.FromMilliseconds(250));
        }
    }

    private static int Count(ServiceProcess p, string text) =>
        p.Output.Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal));

    private static async Task FinishAndAssertAsync(PipelineHarness h)
    {
        await h.WaitForGeneratorAsync(Patience);
        var (pg, topic) = await AssertWholePipelineAsync(h);
        Assert.Equal(Users, pg.Count);
        Assert.True(topic.Count > Users, $"{topic.Count} messages: the flow was meant to carry updates too");
    }

    [Fact]
    public async Task An_instance_of_each_sink_frozen_longer_than_the_session_timeout_and_resumed_overwrites_and_loses_nothing()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        await StartFlowAsync(h, MySql1, MySql2, S31, S32);

        // Frozen mid-flow, with whatever it holds (a batch in a MySQL transaction, an object not yet stored).
        var takeovers = (MySql: Count(h[MySql2], "Assigned partitions 0, 1, 2, 3"), S3: Count(h[S32], "Assigned partitions 0, 1, 2, 3"));
        await h[MySql1].FreezeAsync();
        await h[S31].FreezeAsync();
        h.Log("froze one instance of each sink");
        // The group notices after the session timeout and gives everything to the other instance, which writes on.
        await WaitUntilAsync("the other instances to take all partitions over", () => Task.FromResult(
                Count(h[MySql2], "Assigned partitions 0, 1, 2, 3") > takeovers.MySql && Count(h[S32], "Assigned partitions 0, 1, 2, 3") > takeovers.S3),
            Patience, () => Task.FromResult("no takeover yet"));
        var committed = CommittedTotal(h.Bootstrap, "mysql-sink", PipelineHarness.Topic, PipelineHarness.Partitions);
        await WaitForBothGroupsAsync(h, committed + 2_000);

        // Woken up, they still hold their old batch and open objects: nothing of it may overwrite newer data.
        await h[MySql1].ThawAsync();
        await h[S31].ThawAsync();
        h.Log("thawed them");
        await FinishAndAssertAsync(h);
        Assert.Contains("Lost partitions", h[MySql1].Output, StringComparison.Ordinal);
        Assert.Contains("Lost partitions", h[S31].Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_instance_of_each_sink_killed_mid_flow_loses_and_doubles_nothing()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        await StartFlowAsync(h, MySql1, MySql2, S31, S32);

        await h.KillAsync(MySql1);
        await h.KillAsync(S31);
        await FinishAndAssertAsync(h);
        Assert.True(Count(h[MySql2], "Assigned partitions 0, 1, 2, 3") > 0, "the surviving MySQL sink never took every partition");
        Assert.True(Count(h[S32], "Assigned partitions 0, 1, 2, 3") > 0, "the surviving S3 sink never took every partition");
    }

    [Fact]
    public async Task An_instance_of_each_sink_added_mid_flow_takes_partitions_and_nothing_is_lost_or_doubled()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        await StartFlowAsync(h, MySql1, S31);

        StartSink(h, MySql2);
        StartSink(h, S32);
        await FinishAndAssertAsync(h);
        foreach (var added in new[] { MySql2, S32 })
            Assert.True(Count(h[added], $"Opened {PipelineHarness.Topic} partition") > 0, $"{added} never got a partition");
    }
}
