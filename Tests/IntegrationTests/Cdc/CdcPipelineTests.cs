using System.Globalization;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Pipeline;
using KafkaPipeline.Shared;
using KafkaPipeline.Tests;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineConvergence;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Cdc;

/// <summary>
/// The whole pipeline on the Cdc source: PostgreSQL -> SourceService -> P_USERS -> MySqlSinkService and S3SinkService, with
/// concurrent writers that insert, update and delete, and roll back; every store ends as PostgreSQL holds the table.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class CdcPipelineTests(ITestOutputHelper output)
{
    private static readonly FieldProtector s_protector = KafkaPipeline.Tests.TestProtection.Protector;

    [Fact]
    public async Task Concurrent_writers_with_deletes_end_in_MySQL_and_the_lake_exactly_as_PostgreSQL_holds_the_table()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        await ChangeAudit.InstallAsync(h.Postgres);
        await h.StartSinksAsync();
        var source = h.Start(PipelineHarness.Source, ("Source:HeartbeatInterval", "00:00:01"));
        await source.WaitForOutputAsync("Streaming changes", Patience);

        h.StartGenerator(totalCount: 3_000, ratePerSecond: 100, maxBatchSize: 50, updateFraction: 0.3);
        await new ConcurrentWriters(h.Postgres, output, seed: 21).RunAsync(TimeSpan.FromSeconds(30));
        await h.WaitForGeneratorAsync(Patience);

        // Kafka: every committed change once, in order per key.
        await CdcConvergence.WaitForSourceAsync(h);
        var topic = await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic);
        var audit = await ChangeAudit.ReadAsync(h.Postgres);
        var pg = await PostgresUsersAsync(h.Postgres);
        ChangeLogAssert.TopicHoldsEachCommittedChangeOnce(topic, audit, pg);
        var deleted = audit.Where(a => a.Value[^1].Op == ChangeOp.Delete).Select(a => a.Key).ToList();
        Assert.True(deleted.Count > 0, "no user was deleted: the test proves nothing about deletes");

        // MySQL: row for row the table (the columns it keeps), deleted users absent.
        await WaitForMySqlAsync(h);
        var mySql = await MySqlUsersAsync(h.MySql);
        PipelineAssert.MySqlEqualsPostgres(mySql, Holding(pg, await MySqlColumnsAsync(h.MySql)));
        Assert.DoesNotContain(deleted, mySql.ContainsKey);

        // The lake: every message once, in offset order (delete markers for tombstones), and replaying the objects of
        // each partition in offset order gives the table, private fields pseudonymised.
        await WaitForBucketAsync(h);
        var objects = await ReadObjectsAsync(h.S3, h.Bucket, PipelineHarness.Topic);
        PipelineAssert.BucketHoldsTopicExactlyOnce(objects, topic);
        var lake = Replay(objects);
        var expected = pg.Values.ToDictionary(u => u.Id, u => ExpectedLakeLines.Canonical(ExpectedLakeLines.UserFields(u, s_protector)));
        var missing = expected.Keys.Where(id => !lake.ContainsKey(id)).Take(10).ToList();
        var extra = lake.Keys.Where(id => !expected.ContainsKey(id)).Take(10).ToList();
        var different = expected.Where(e => lake.TryGetValue(e.Key, out var line) && ExpectedLakeLines.Canonical(ExpectedLakeLines.RowPart(line)) != e.Value)
            .Select(e => e.Key).Take(10).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0 && different.Count == 0,
            $"replaying the lake: missing ids {string.Join(", ", missing)}; ids PostgreSQL deleted or never had {string.Join(", ", extra)}; different {string.Join(", ", different)}");
        // No tombstone (or anything else of the source) was dead-lettered.
        Assert.Equal(0, await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.DeadLetterTopic));
        h.Log($"verified: {topic.Count} events, {pg.Count} users in PostgreSQL, MySQL and the lake, {deleted.Count} deleted users absent from both");
    }

    /// <summary>Per id, the last line of the lake in offset order: a row, or gone after a delete marker.</summary>
    private static Dictionary<long, string> Replay(IReadOnlyList<SinkObject> objects)
    {
        var state = new Dictionary<long, string>();
        foreach (var o in objects.OrderBy(o => o.Partition).ThenBy(o => o.StartOffset))
        {
            foreach (var line in o.Lines)
            {
                var id = LakeLineIds.Of(line);
                if (LakeLineIds.IsDelete(line)) state.Remove(id);
                else state[id] = line;
            }
        }
        return state;
    }
}
