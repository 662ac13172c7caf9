using System.Text.Json;
using KafkaPipeline.Benchmarks;
using KafkaPipeline.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace KafkaPipeline.IntegrationTests.Benchmarks;

/// <summary>
/// The benchmark in small (a few thousand users, a few seconds of latency traffic) so its code cannot rot. Asserts
/// counts and the correctness verdict only, never a speed.
/// </summary>
public sealed class BenchmarkSmokeTests(ITestOutputHelper output)
{
    private const int Users = 3000;
    private const int Rate = 100;
    private const int Seconds = 3;

    [Fact]
    public async Task Small_run_finds_every_user_exactly_once_in_each_store_and_reports_all_figures()
    {
        var dataDir = Environment.GetEnvironmentVariable("KP_DATA_DIR");
        var s3Dir = dataDir is null ? null : Path.Combine(dataDir, "s3", "objects");
        var settings = new BenchmarkSettings
        {
            Users = Users,
            LatencySeconds = Seconds,
            Rates = [Rate],
            Postgres = TestServers.Postgres,
            MySql = TestServers.MySql,
            S3Url = TestServers.S3Url,
            S3DataDir = Directory.Exists(s3Dir) ? s3Dir : null,
            LogDir = Path.Combine(Path.GetTempPath(), "kp-bench-smoke-" + Guid.NewGuid().ToString("N")[..8]),
            DrainTimeout = TimeSpan.FromSeconds(180), // bounds a hung run on a loaded machine (the services start within it); not a speed assertion
        };

        var report = await new BenchmarkRunner(settings, new TestOutputWriter(output)).RunAsync("smoke test", CancellationToken.None);
        output.WriteLine(ReportWriter.Table(report));

        Assert.True(report.Ok, "benchmark failures:\n" + string.Join("\n", report.Failures));
        Assert.Equal(["PostgreSQL keyset read", "PostgreSQL snapshot read", "PostgreSQL logical replication", "Kafka produce", "Kafka consume", "MySQL upsert", "S3 PUT"],
            report.Stages.Select(s => s.Name));
        Assert.Equal(Users, report.Stages[0].Items);
        Assert.Equal(Users, report.Stages[1].Items);
        Assert.Equal(Users, report.Stages[2].Items); // every insert of the Generator came through the stage slot
        Assert.All(report.Stages, s => Assert.True(s.Items > 0 && s.Seconds > 0, s.Name));

        var backfill = Assert.IsType<BackfillResult>(report.Backfill);
        Assert.Equal(["Kafka", "MySQL", "S3"], backfill.Flows.Select(f => f.Store));
        Assert.All(backfill.Flows, f => Assert.Equal(Users, f.Users));
        Assert.Equal(Users, backfill.MySqlSeries[^1].Users);
        Assert.Equal(Users, backfill.S3Series[^1].Users);
        Assert.Equal(Users, backfill.KafkaSeries[^1].Users);

        var latency = Assert.Single(report.Latency);
        Assert.Equal(Rate * Seconds, latency.Users);
        Assert.Equal(latency.Users, latency.PostgresToMySql!.Count);
        Assert.Equal(latency.Users, latency.PostgresToS3!.Count);
        Assert.Equal(latency.Users, latency.PostgresToKafka!.Count);

        // The Cdc source (default) and the polling one beside it, each with a backfill rate and every user's latency.
        Assert.Equal(["Cdc, alone", "Cdc, in the pipeline", "TimestampIncrementing (polling), alone"], report.Sources.Select(s => s.Mode));
        Assert.All(report.Sources, s =>
        {
            Assert.True(s.BackfillIntoKafkaUsersPerSecond > 0, s.Mode);
            Assert.Equal(Rate * Seconds, Assert.Single(s.Latency).PostgresToKafka!.Count);
        });
        Assert.Contains(report.Goals, g => g.Goal.StartsWith("p99 PostgreSQL commit -> Kafka <= 25 ms", StringComparison.Ordinal) && g.Met is not null);
        Assert.Contains(report.Goals, g => g.Goal.StartsWith("initial snapshot of", StringComparison.Ordinal) && g.Met is not null);

        // The schema change while streaming reached both stores; the topic's record size was sampled.
        var change = Assert.IsType<SchemaChangeResult>(report.SchemaChange);
        Assert.True(change.ToMySqlMilliseconds > 0);
        Assert.NotNull(change.ToLakeMilliseconds);
        var size = Assert.IsType<TopicRecordSize>(report.TopicRecordSize);
        Assert.True(size.Records > 0 && size.SchemaBytes > 0 && size.ValueBytes > size.SchemaBytes, $"{size}");
        Assert.True(size.WireBytesLz4 > 0 && size.WireBytesUncompressed > size.WireBytesLz4, $"{size}");
        Assert.Contains(report.Goals, g => g.Goal.StartsWith("a column added to users reaches MySQL", StringComparison.Ordinal) && g.Met is not null);

        // The backfill variants: each on its own storage, every row in both stores, Parquet's lake queried twice.
        Assert.Equal(["users, json", "users + orders, json", "users, parquet"], report.Variants.Select(v => v.Label));
        var users = report.Variants[0].Rows;
        Assert.True(users >= Users, $"{users}");
        Assert.Equal([users, users + users / 2, users], report.Variants.Select(v => v.Rows));
        Assert.All(report.Variants, v => Assert.True(v.IntoMySqlRowsPerSecond > 0 && v.IntoS3RowsPerSecond > 0 && v.LakeBytesPerUser > 0, $"{v}"));
        var query = Assert.IsType<LakeQueryResult>(report.Variants[2].LakeQuery);
        Assert.True(query.FirstSeconds > 0 && query.CachedSeconds > 0);
        Assert.Contains(report.Goals, g => g.Goal.StartsWith("two-table backfill", StringComparison.Ordinal) && g.Met is not null);
        Assert.Contains(report.Goals, g => g.Goal.StartsWith("S3 sink backfill with parquet", StringComparison.Ordinal) && g.Met is not null);

        Assert.Contains(report.Memory, m => m.Service == "MySqlSinkService" && m.PeakRssMegabytes > 0);
        Assert.Equal(3, report.Goals.Count(g => g.Met is not null && g.Goal.Contains("resident", StringComparison.Ordinal)));

        using var json = JsonDocument.Parse(ReportWriter.Json(report));
        Assert.True(json.RootElement.GetProperty("ok").GetBoolean());
        Assert.Equal(Users, json.RootElement.GetProperty("backfill").GetProperty("users").GetInt64());
    }

    [Fact]
    public void Verification_fails_a_run_where_a_sink_doubles_or_misses_users()
    {
        long[] ids = [1, 2, 3, 4];
        long[] kafka = [2, 2]; // partition 0: ids 1, 2; partition 1: ids 3, 4
        var now = DateTime.UtcNow;
        MySqlRow Row(long id) => new(id, now, now);
        S3Object Obj(int p, long start, params long[] lines) =>
            new($"topics/P_USERS/partition={p}/P_USERS+{p}+{start:D10}.json", p, start, lines.Length, now, 100) { Ids = [.. lines] };

        var good = Verification.Check(ids, kafka, [Row(1), Row(2), Row(3), Row(4)], [Obj(0, 0, 1, 2), Obj(1, 0, 3, 4)]);
        Assert.Empty(good);

        var mysqlMissing = Verification.Check(ids, kafka, [Row(1), Row(2), Row(4)], [Obj(0, 0, 1, 2), Obj(1, 0, 3, 4)]);
        Assert.Contains(mysqlMissing, f => f.StartsWith("MySQL misses 1 users", StringComparison.Ordinal));

        // The same offsets stored twice (e.g. a re-PUT under another start offset after a rebalance).
        var s3Doubled = Verification.Check(ids, kafka, [Row(1), Row(2), Row(3), Row(4)], [Obj(0, 0, 1, 2), Obj(0, 1, 2), Obj(1, 0, 3, 4)]);
        Assert.Contains(s3Doubled, f => f.Contains("1 users doubled", StringComparison.Ordinal));
        Assert.Contains(s3Doubled, f => f.Contains("doubled offsets", StringComparison.Ordinal));

        var s3Missing = Verification.Check(ids, kafka, [Row(1), Row(2), Row(3), Row(4)], [Obj(0, 0, 1, 2)]);
        Assert.Contains(s3Missing, f => f.StartsWith("S3 misses 2 users", StringComparison.Ordinal));
        Assert.Contains(s3Missing, f => f.Contains("S3 partition 1: no object", StringComparison.Ordinal));

        var kafkaDoubled = Verification.Check(ids, [3, 2], [Row(1), Row(2), Row(3), Row(4)], [Obj(0, 0, 1, 2), Obj(1, 0, 3, 4)]);
        Assert.Contains(kafkaDoubled, f => f.StartsWith("Kafka holds 5 messages", StringComparison.Ordinal));
    }
}
