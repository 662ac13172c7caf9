using System.Globalization;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.Shared;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineConvergence;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Pipeline;

/// <summary>Generator -> SourceService -> P_USERS -> MySqlSinkService and S3SinkService, all as separate processes.</summary>
[Collection(PipelineCollection.Name)]
public sealed class FullPipelineTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Ten_thousand_users_reach_MySQL_and_S3_exactly_once()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        await h.StartSinksAsync();
        h.StartSource("TimestampIncrementing");
        h.StartGenerator(totalCount: 10_000, ratePerSecond: 20_000, maxBatchSize: 2_000);
        await h.WaitForGeneratorAsync(Patience);

        var (pg, topic) = await AssertWholePipelineAsync(h);
        Assert.Equal(10_000, pg.Count);
        Assert.Equal(10_000, topic.Count);
    }

    [Fact]
    public async Task Each_service_killed_mid_flow_of_fifty_thousand_users_and_restarted_loses_and_doubles_nothing()
    {
        const int total = 50_000;
        await using var h = await PipelineHarness.StartAsync(output);
        await h.StartSinksAsync();
        h.StartSource("TimestampIncrementing");
        h.StartGenerator(totalCount: total, ratePerSecond: 4_000, maxBatchSize: 1_000);

        // Generator: killed mid-COPY at some point; the restarted one inserts the rest (PostgreSQL is the truth either way).
        await WaitFor(h, "PostgreSQL to hold 8,000 users", () => PostgresCountAsync(h.Postgres), 8_000);
        await h.KillAsync(PipelineHarness.Generator);
        await Task.Delay(TimeSpan.FromSeconds(1)); // let PostgreSQL finish or roll back the dead session's transaction
        var inserted = await PostgresCountAsync(h.Postgres);
        h.Log($"generator killed after {inserted} users");
        h.Restart(PipelineHarness.Generator, ("Generator:TotalCount", (total - inserted).ToString(CultureInfo.InvariantCulture)));

        await WaitFor(h, "P_USERS to hold 16,000 messages",
            () => EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic), 16_000);
        await h.KillAsync(PipelineHarness.Source);
        h.Restart(PipelineHarness.Source);

        await WaitFor(h, "the MySQL sink to commit 22,000 records",
            () => Task.Run(() => CommittedTotal(h.Bootstrap, "mysql-sink", PipelineHarness.Topic, PipelineHarness.Partitions)), 22_000);
        await h.KillAsync(PipelineHarness.MySqlSink);
        h.Log($"MySQL sink killed with {await MySqlCountAsync(h.MySql)} rows in MySQL");
        h.Restart(PipelineHarness.MySqlSink);

        await WaitFor(h, "the S3 sink to commit 28,000 records",
            () => Task.Run(() => CommittedTotal(h.Bootstrap, "s3-sink", PipelineHarness.Topic, PipelineHarness.Partitions)), 28_000);
        await h.KillAsync(PipelineHarness.S3Sink);
        h.Log($"S3 sink killed with {(await ListKeysAsync(h.S3, h.Bucket, "topics/")).Count} objects in the bucket");
        h.Restart(PipelineHarness.S3Sink);

        await h.WaitForGeneratorAsync(Patience);
        h.Log($"generator done: {await PostgresCountAsync(h.Postgres)} users in PostgreSQL");
        var (pg, topic) = await AssertWholePipelineAsync(h);
        // A COPY killed mid-way rolls back, so the two generator runs add up to the total exactly.
        Assert.Equal(total, pg.Count);
        Assert.Equal(total, topic.Count);
    }

    [Fact]
    public async Task A_broker_down_for_seconds_mid_flow_loses_nothing()
    {
        await using var h = await PipelineHarness.StartAsync(output, brokers: 3, replicationFactor: 3);
        // Broker 1 leads partition 0 at least, so taking it down stalls that partition for producer and consumers.
        h.Cluster.SetPartitionLeader(PipelineHarness.Topic, 0, 1);
        await h.StartSinksAsync();
        h.StartSource("TimestampIncrementing");
        h.StartGenerator(totalCount: 20_000, ratePerSecond: 3_000, maxBatchSize: 1_000);

        // Down while all three Kafka clients are busy: the source producing, both sinks consuming and committing.
        await WaitFor(h, "P_USERS to hold 5,000 messages",
            () => EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic), 5_000);
        await WaitForSinksToCommit(h, 2_000);
        h.Cluster.SetBrokerDown(1);
        h.Log("broker 1 down");
        await Task.Delay(TimeSpan.FromSeconds(5));
        h.Cluster.SetBrokerUp(1);
        h.Log("broker 1 up");

        await h.WaitForGeneratorAsync(Patience);
        var (pg, topic) = await AssertWholePipelineAsync(h);
        Assert.Equal(20_000, pg.Count);
        Assert.Equal(20_000, topic.Count);
    }

    [Fact]
    public async Task Malformed_messages_go_to_the_dead_letter_topic_and_everything_else_flows()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        await h.StartSinksAsync();
        h.StartSource("TimestampIncrementing");
        h.StartGenerator(totalCount: 10_000, ratePerSecond: 2_500, maxBatchSize: 1_000);

        // Written by someone else into the pipeline's topic (what users put there with kcat): not JSON, truncated JSON, a
        // lone surrogate, an impossible date, JSON null, a number where an id is, flat JSON without a schema, a 900 kB
        // value, an empty value, a payload that is null, an envelope with a member too many; each under a key that is no
        // user id.
        var user = UsersEvents.Value(new UserRecord { Id = 1, Name = "x", UpdatedAt = DateTime.UtcNow, CreatedAt = DateTime.UtcNow });
        var text = Encoding.UTF8.GetString(user);
        byte[][] bad =
        [
            Encoding.UTF8.GetBytes("this is not JSON {"),
            user[..(user.Length / 2)],
            Encoding.UTF8.GetBytes(text.Replace("\"name\":\"x\"", "\"name\":\"\\ud800\"", StringComparison.Ordinal)),
            Encoding.UTF8.GetBytes(text.Replace("\"created_at\":\"", "\"created_at\":\"2026-02-30T25:61:00Z\",\"x_\":\"", StringComparison.Ordinal)),
            "null"u8.ToArray(),
            Encoding.UTF8.GetBytes(text.Replace("\"id\":1,", "\"id\":1.5,", StringComparison.Ordinal)),
            Encoding.UTF8.GetBytes("""{"id":0,"name":"nobody","updated_at":"2024-01-01T00:00:00.000000Z"}"""),
            Encoding.UTF8.GetBytes("{\"junk\":\"" + new string('z', 900_000) + "\"}"),
            [],
            Encoding.UTF8.GetBytes(text[..text.IndexOf("\"payload\":", StringComparison.Ordinal)] + "\"payload\":null}"),
            Encoding.UTF8.GetBytes(text[..^1] + ",\"extra\":1}"),
            user,
        ];
        var foreign = new HashSet<(int, long)>();
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = h.Bootstrap, Acks = Acks.All })
            .SetLogHandler((_, _) => { }).Build();
        async Task ProduceBad(int i)
        {
            var r = await producer.ProduceAsync(new TopicPartition(PipelineHarness.Topic, i % PipelineHarness.Partitions),
                new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes("bad-" + i), Value = bad[i] });
            foreign.Add((r.Partition.Value, r.Offset.Value));
            h.Log($"malformed message {i} at partition {r.Partition.Value} offset {r.Offset.Value}");
        }

        // One mid-flow, between good records; one after the flow, so it is the last message of its partition (the S3
        // sink then has no object to put it in and must still get past it).
        await WaitForSinksToCommit(h, 2_000);
        for (var i = 0; i < bad.Length - 1; i++) await ProduceBad(i);
        await h.WaitForGeneratorAsync(Patience);
        await WaitForTopicAsync(h, foreign);
        await ProduceBad(bad.Length - 1); // 11 % 4 = partition 3

        var (pg, topic) = await AssertWholePipelineAsync(h, foreign);
        Assert.Equal(10_000, pg.Count);
        Assert.Equal(10_000 + bad.Length, topic.Count);
        var last = topic.Where(m => m.Partition == 3).MaxBy(m => m.Offset)!;
        Assert.True(foreign.Contains((3, last.Offset)), "the last malformed message is not the last of partition 3");

        // Each sink dead-letters each bad message once, with its error and origin in headers, and nothing else.
        List<TopicMessage> dlq = [];
        await WaitUntilAsync("both sinks to dead-letter both bad messages", async () =>
            {
                dlq = await ReadTopicAsync(h.Bootstrap, PipelineHarness.DeadLetterTopic);
                return dlq.Count >= 2 * bad.Length;
            }, Patience, () => Task.FromResult($"{dlq.Count} messages in {PipelineHarness.DeadLetterTopic}"));
        Assert.Equal(2 * bad.Length, dlq.Count);
        foreach (var (partition, offset) in foreign)
        {
            var copies = dlq.Where(m => Header(m, PipelineHeaders.DlqPartition) == partition.ToString(CultureInfo.InvariantCulture)
                                        && Header(m, PipelineHeaders.DlqOffset) == offset.ToString(CultureInfo.InvariantCulture)).ToList();
            Assert.True(copies.Count == 2, $"{copies.Count} dead-letter copies of {partition}@{offset}, expected one per sink");
            Assert.Equal(2, copies.Select(m => Header(m, PipelineHeaders.DlqService)).Distinct().Count());
            var original = topic.Single(m => m.Partition == partition && m.Offset == offset);
            Assert.All(copies, m =>
            {
                // A value that is not JSON may hold private data anywhere: it is sealed (Protection:Key reads it back).
                var form = Header(m, PipelineHeaders.DlqValueForm);
                var value = original.Value ?? [];
                var expected = value.Length == 0 ? "as-received"
                    : !s_protector.TryProtect(value, out var protectedValue) ? "sealed"
                    : ReferenceEquals(protectedValue, value) ? "as-received" : "fields-protected";
                Assert.Equal(expected, form);
                if (form == "sealed") Assert.Equal(value, s_protector.Unseal(m.Value));
                else if (form == "as-received") Assert.Equal(value, m.Value ?? []);
                Assert.Equal(original.Key, m.Key);
                Assert.Equal(PipelineHarness.Topic, Header(m, PipelineHeaders.DlqTopic));
                Assert.False(string.IsNullOrWhiteSpace(Header(m, PipelineHeaders.DlqError)), "no dlq.error.message header");
                Assert.False(string.IsNullOrWhiteSpace(Header(m, PipelineHeaders.DlqErrorType)), "no dlq.error.type header");
            });
            h.Log($"DLQ {partition}@{offset}: " + string.Join(" | ", copies.Select(m =>
                $"{Header(m, PipelineHeaders.DlqService)}/{Header(m, PipelineHeaders.DlqStage)}: {Header(m, PipelineHeaders.DlqErrorType)}: {Header(m, PipelineHeaders.DlqError)}")));
        }
    }

    private static async Task WaitForSinksToCommit(PipelineHarness h, long records)
    {
        foreach (var group in new[] { "mysql-sink", "s3-sink" })
        {
            await WaitFor(h, $"{group} to commit {records} records",
                () => Task.Run(() => CommittedTotal(h.Bootstrap, group, PipelineHarness.Topic, PipelineHarness.Partitions)), records);
        }
    }

    private static string? Header(TopicMessage m, string key) => PipelineHeaders.GetString(m.Headers, key);

    private static readonly FieldProtector s_protector = KafkaPipeline.Tests.TestProtection.Protector;

    private static Task WaitFor(PipelineHarness h, string what, Func<Task<long>> count, long atLeast) =>
        WaitUntilAsync(what, async () => await count() >= atLeast, Patience, async () =>
        {
            var now = await count();
            h.Log($"still waiting for {what}: {now}");
            return now.ToString(CultureInfo.InvariantCulture);
        }, TimeSpan.FromMilliseconds(200));
}
