using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.Shared;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Pipeline;

/// <summary>
/// Waits for each stage of the pipeline to catch up with PostgreSQL, by polling the stores themselves (no sleeps, no
/// speed assertions). Generous timeouts: a 2-core CI machine runs all four services plus the servers.
/// </summary>
public static class PipelineConvergence
{
    public static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    /// <summary>Until every PostgreSQL row's current version (id, updated_at) is in P_USERS.</summary>
    public static async Task WaitForTopicAsync(PipelineHarness h, IReadOnlySet<(int, long)>? foreign = null)
    {
        await WaitUntilAsync("P_USERS to hold every PostgreSQL row", async () =>
        {
            var rows = await PostgresCountAsync(h.Postgres);
            var count = await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic);
            if (rows == 0 || count - (foreign?.Count ?? 0) < rows) return false;
            var pg = await PostgresUsersAsync(h.Postgres);
            var versions = (await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic))
                .Where(m => m.User is not null).Select(m => (m.User!.Id, m.User.UpdatedAt)).ToHashSet();
            return pg.Values.All(u => versions.Contains((u.Id, u.UpdatedAt)));
        }, Patience, async () =>
            $"{await PostgresCountAsync(h.Postgres)} rows in PostgreSQL, {await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic)} messages in P_USERS",
            TimeSpan.FromSeconds(2));
    }

    /// <summary>Until the MySQL table equals the PostgreSQL table (same ids, every column equal).</summary>
    public static async Task WaitForMySqlAsync(PipelineHarness h)
    {
        await WaitUntilAsync("MySQL to equal PostgreSQL", async () =>
        {
            var rows = await PostgresCountAsync(h.Postgres);
            if (await MySqlCountAsync(h.MySql) != rows) return false;
            var pg = Holding(await PostgresUsersAsync(h.Postgres), await MySqlColumnsAsync(h.MySql));
            var my = await MySqlUsersAsync(h.MySql);
            return pg.Count == my.Count && pg.Values.All(u => my.TryGetValue(u.Id, out var m) && m == u);
        }, Patience, async () =>
            $"{await PostgresCountAsync(h.Postgres)} rows in PostgreSQL, {await MySqlCountAsync(h.MySql)} in MySQL",
            TimeSpan.FromSeconds(2));
    }

    /// <summary>
    /// Until the S3 sink is done with every partition: its newest object, or its committed offset when the last records
    /// were all dead-lettered (no object holds only dead-lettered records), reaches the partition's high watermark.
    /// </summary>
    public static async Task WaitForBucketAsync(PipelineHarness h)
    {
        async Task<(IReadOnlyList<PartitionWatermark> Marks, Dictionary<int, long> Stored, Dictionary<int, long> Committed)> Read() =>
            (await EmbeddedKafkaCluster.GetWatermarksAsync(h.Bootstrap, PipelineHarness.Topic),
             await StoredEndOffsetsAsync(h.S3, h.Bucket, PipelineHarness.Topic),
             await Task.Run(() => Committed(h.Bootstrap, "s3-sink", PipelineHarness.Topic, PipelineHarness.Partitions)) ?? []);
        await WaitUntilAsync("the S3 sink to reach the end of every partition", async () =>
        {
            var (marks, stored, committed) = await Read();
            return marks.All(m => m.High == m.Low ||
                Math.Max(stored.GetValueOrDefault(m.Partition, -1), committed.GetValueOrDefault(m.Partition, -1)) == m.High);
        }, Patience, async () =>
        {
            var (marks, stored, committed) = await Read();
            return string.Join(", ", marks.Select(m =>
                $"partition {m.Partition}: high watermark {m.High}, objects end at {(stored.TryGetValue(m.Partition, out var e) ? e : "-")}, " +
                $"committed {(committed.TryGetValue(m.Partition, out var c) ? c : "-")}"));
        }, TimeSpan.FromSeconds(2));
    }

    /// <summary>Waits for all three stores, then checks everything on fresh reads: Kafka, MySQL and S3 against PostgreSQL.</summary>
    public static async Task<(Dictionary<long, UserRecord> Postgres, List<TopicMessage> Topic)> AssertWholePipelineAsync(
        PipelineHarness h, IReadOnlySet<(int, long)>? foreign = null)
    {
        await WaitForTopicAsync(h, foreign);
        await WaitForMySqlAsync(h);
        await WaitForBucketAsync(h);

        var pg = await PostgresUsersAsync(h.Postgres);
        var topic = await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic);
        PipelineAssert.TopicHoldsEachVersionOnce(topic, pg, foreign);
        PipelineAssert.MySqlEqualsPostgres(await MySqlUsersAsync(h.MySql), Holding(pg, await MySqlColumnsAsync(h.MySql)));
        PipelineAssert.BucketHoldsTopicExactlyOnce(await ReadObjectsAsync(h.S3, h.Bucket, PipelineHarness.Topic), topic);
        h.Log($"verified: {pg.Count} PostgreSQL rows, {topic.Count} messages in P_USERS, MySQL equal ({string.Join(", ", await MySqlColumnsAsync(h.MySql))}), S3 exactly once");
        return (pg, topic);
    }
}
