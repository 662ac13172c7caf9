using KafkaPipeline.EmbeddedKafka;
using Npgsql;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineConvergence;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Pipeline;

/// <summary>
/// Generator -> SourceService in its polling modes -> P_USERS, as separate processes against PostgreSQL and the embedded
/// Kafka.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class PollingSourceToKafkaTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Ten_thousand_generated_users_reach_the_topic_exactly_once_in_incrementing_mode()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.StartSource("Incrementing");
        h.StartGenerator(totalCount: 10_000, ratePerSecond: 20_000, maxBatchSize: 2_000);
        await h.WaitForGeneratorAsync(Patience);

        await WaitForTopicAsync(h);
        var pg = await PostgresUsersAsync(h.Postgres);
        var topic = await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic);
        Assert.Equal(10_000, pg.Count);
        Assert.Equal(10_000, topic.Count);
        PipelineAssert.TopicHoldsEachVersionOnce(topic, pg);
    }

    [Fact]
    public async Task Source_killed_repeatedly_during_fifty_thousand_users_loses_and_doubles_nothing()
    {
        const int total = 50_000;
        await using var h = await PipelineHarness.StartAsync(output);
        h.StartSource("TimestampIncrementing");
        h.StartGenerator(totalCount: total, ratePerSecond: 5_000, maxBatchSize: 1_000);

        // Kill -9 each time the source has published another 5,000 rows (mid-flow: it never idles that long).
        for (var kill = 1; kill <= 5; kill++)
        {
            var before = await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic);
            await WaitUntilAsync($"the source to publish 5,000 more rows (kill {kill})", async () =>
                    await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic) >= Math.Min(before + 5_000, total),
                Patience, async () => $"{await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic)} messages",
                TimeSpan.FromMilliseconds(100));
            await h.KillAsync(PipelineHarness.Source);
            h.Log($"kill {kill}: {await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic)} messages in P_USERS, " +
                  $"{await PostgresCountAsync(h.Postgres)} rows in PostgreSQL");
            h.Restart(PipelineHarness.Source);
        }

        await h.WaitForGeneratorAsync(Patience);
        await WaitForTopicAsync(h);
        var pg = await PostgresUsersAsync(h.Postgres);
        var topic = await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic);
        Assert.Equal(total, pg.Count);
        PipelineAssert.TopicHoldsEachVersionOnce(topic, pg);
        Assert.Equal(total, topic.Count); // no updates: one version per row
    }

    [Fact]
    public async Task A_row_committed_late_by_a_long_transaction_is_not_skipped_in_timestamp_mode()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        // Delay above the long transaction's length: rows younger than 3 s wait, so the late commit is still ahead.
        h.Start(PipelineHarness.Source, ("Source:Mode", "TimestampIncrementing"), ("Source:Delay", "00:00:03"));
        h.StartGenerator(totalCount: 6_000, ratePerSecond: 1_000, maxBatchSize: 200);
        await WaitUntilAsync("the generator to create the table and insert", async () => await PostgresCountAsync(h.Postgres) > 500,
            Patience, async () => $"{await PostgresCountAsync(h.Postgres)} rows");

        // updated_at defaults to now(), the transaction's start: this row sorts before everything committed meanwhile.
        long lateId;
        await using (var conn = new NpgsqlConnection(h.Postgres))
        {
            await conn.OpenAsync();
            await using var tx = await conn.BeginTransactionAsync();
            await using var insert = new NpgsqlCommand("""
                INSERT INTO users (name, username, sex, address, mail, birthdate, job, company, ssn, residence)
                VALUES ('Late Writer', 'late', 'F', 'Nowhere 1', 'late@example.com', '1990-01-01', 'Waiter', 'Slow Ltd', '000-00-0000', 'Nowhere')
                RETURNING id
                """, conn, tx);
            lateId = (long)(await insert.ExecuteScalarAsync())!;
            await Task.Delay(TimeSpan.FromSeconds(1.5)); // the generator commits ~1,500 later rows meanwhile
            await tx.CommitAsync();
        }
        h.Log($"late row {lateId} committed");

        await h.WaitForGeneratorAsync(Patience);
        await WaitForTopicAsync(h);
        var pg = await PostgresUsersAsync(h.Postgres);
        var topic = await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic);
        Assert.True(pg.Keys.Max() > lateId, "no row was committed after the late one");
        PipelineAssert.TopicHoldsEachVersionOnce(topic, pg);
        Assert.Equal(6_001, topic.Count);
    }

    [Fact]
    public async Task Updates_in_timestamp_mode_arrive_as_new_versions_in_Kafka_and_MySQL()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.StartSource("TimestampIncrementing");
        h.Start(PipelineHarness.MySqlSink, ("MySqlSink:SummaryInterval", "00:00:05"), ("MySqlSink:ExcludeColumns", ""));
        h.StartGenerator(totalCount: 10_000, ratePerSecond: 20_000, maxBatchSize: 2_000);
        await h.WaitForGeneratorAsync(Patience);
        await WaitForTopicAsync(h);
        var before = await PostgresUsersAsync(h.Postgres);

        // 500 distinct users updated in 10 small transactions, as an application would; the trigger moves updated_at.
        var ids = before.Keys.Order().Where((_, i) => i % 20 == 7).Take(500).ToArray();
        Assert.Equal(500, ids.Length);
        await using (var conn = new NpgsqlConnection(h.Postgres))
        {
            await conn.OpenAsync();
            foreach (var chunk in ids.Chunk(50))
            {
                await using var update = new NpgsqlCommand("UPDATE users SET job = 'Updated job ' || id, residence = 'Updated residence' WHERE id = ANY(@ids)", conn);
                update.Parameters.AddWithValue("ids", chunk);
                Assert.Equal(chunk.Length, await update.ExecuteNonQueryAsync());
                await Task.Delay(50);
            }
        }

        await WaitForTopicAsync(h);
        await WaitForMySqlAsync(h);
        var pg = await PostgresUsersAsync(h.Postgres);
        var topic = await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic);
        PipelineAssert.TopicHoldsEachVersionOnce(topic, pg);
        Assert.Equal(10_500, topic.Count);
        Assert.All(ids, id =>
        {
            Assert.True(pg[id].UpdatedAt > before[id].UpdatedAt, $"updated_at of {id} did not move");
            Assert.Equal(2, topic.Count(m => m.User!.Id == id));
        });
        var mySql = await MySqlUsersAsync(h.MySql);
        PipelineAssert.MySqlEqualsPostgres(mySql, pg);
        Assert.All(ids, id => Assert.Equal($"Updated job {id}", mySql[id].Job));
    }
}
