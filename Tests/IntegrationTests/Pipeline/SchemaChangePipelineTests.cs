using KafkaPipeline.IntegrationTests.Infrastructure;
using System.Globalization;
using System.Text.Json;
using KafkaPipeline.IntegrationTests.Cdc;
using MySqlConnector;
using Npgsql;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineConvergence;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Pipeline;

/// <summary>
/// ALTER TABLE on users while the whole pipeline runs (Cdc source, both sinks): columns added (with and without a
/// default), widened and dropped, NULLs written, end in MySQL and the lake as PostgreSQL holds them.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class SchemaChangePipelineTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Columns_added_widened_and_dropped_while_the_pipeline_runs_reach_MySQL_and_the_lake()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        await h.StartSinksAsync();
        h.Start(PipelineHarness.Source, ("Source:HeartbeatInterval", "00:00:01"));
        h.StartGenerator(totalCount: 200, ratePerSecond: 2_000, maxBatchSize: 50);
        await h.WaitForGeneratorAsync(Patience);
        await CdcConvergence.WaitForSourceAsync(h);

        await TestServers.ExecutePostgresAsync(h.Postgres,
            "ALTER TABLE users ADD COLUMN plan text DEFAULT 'free'",
            "UPDATE users SET plan = 'pro' WHERE id % 10 = 0",
            "ALTER TABLE users ADD COLUMN score integer",
            "UPDATE users SET score = id WHERE id % 3 = 0",
            "ALTER TABLE users ALTER COLUMN residence DROP NOT NULL",
            "UPDATE users SET residence = NULL WHERE id % 7 = 0",
            "ALTER TABLE users ADD COLUMN legacy_code text",
            "UPDATE users SET legacy_code = 'L' || id WHERE id % 2 = 0");
        await CdcConvergence.WaitForSourceAsync(h);
        await TestServers.ExecutePostgresAsync(h.Postgres,
            "ALTER TABLE users ALTER COLUMN score TYPE bigint",
            "UPDATE users SET score = 8000000000 + id WHERE id % 5 = 0",
            "ALTER TABLE users DROP COLUMN legacy_code",
            "UPDATE users SET job = 'after the drop' WHERE id % 4 = 0");
        h.StartGenerator(totalCount: 50, ratePerSecond: 2_000, maxBatchSize: 10); // new rows fill the new columns' defaults
        await h.WaitForGeneratorAsync(Patience);
        await CdcConvergence.WaitForSourceAsync(h);
        // The MySQL sink committed to the end of every partition (the rows hold NULLs a users record cannot, so no row compare here).
        await WaitUntilAsync("the MySQL sink at the end of the topic", async () =>
        {
            var marks = await KafkaPipeline.EmbeddedKafka.EmbeddedKafkaCluster.GetWatermarksAsync(h.Bootstrap, PipelineHarness.Topic);
            var committed = await Task.Run(() => Committed(h.Bootstrap, "mysql-sink", PipelineHarness.Topic, PipelineHarness.Partitions)) ?? [];
            return marks.All(m => m.High == m.Low || committed.GetValueOrDefault(m.Partition, -1) == m.High);
        }, Patience, () => Task.FromResult("not yet"), TimeSpan.FromSeconds(1));
        await WaitForBucketAsync(h);

        // MySQL: every row's plan, score and residence as PostgreSQL has them (rows never updated since plan was added
        // have its default there too); legacy_code kept (MySqlSink:OnColumnDropped=keep) but NULL for versions after the drop.
        var pg = await PostgresAsync(h.Postgres, "SELECT id, plan, score, residence, job FROM users");
        var my = await MySqlAsync(h.MySql, "SELECT id, plan, score, residence, job FROM users");
        Assert.Equal(pg.Count, my.Count);
        foreach (var (id, row) in pg) Assert.Equal(row, my[id]);
        Assert.Contains("bigint", await MySqlScalarAsync(h.MySql,
            "SELECT column_type FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'users' AND column_name = 'score'"),
            StringComparison.OrdinalIgnoreCase);
        Assert.Equal("0", await MySqlScalarAsync(h.MySql, "SELECT count(*) FROM users WHERE job = 'after the drop' AND legacy_code IS NOT NULL"));
        Assert.NotEqual("0", await MySqlScalarAsync(h.MySql, "SELECT count(*) FROM users WHERE legacy_code IS NOT NULL"));
        Assert.Equal("0", await MySqlScalarAsync(h.MySql,
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'users' AND column_name = 'ssn'"));

        // The lake: the latest line of each id carries its plan and score, and lines after the drop have no legacy_code.
        var latest = new Dictionary<long, JsonElement>();
        foreach (var o in (await ReadObjectsAsync(h.S3, h.Bucket, PipelineHarness.Topic)).OrderBy(o => o.Partition).ThenBy(o => o.StartOffset))
        {
            foreach (var line in o.Lines)
            {
                var e = JsonDocument.Parse(line).RootElement.Clone();
                if (e.GetProperty("__deleted").GetString() == "true") continue;
                latest[e.GetProperty("id").GetInt64()] = e;
            }
        }
        Assert.Equal(pg.Count, latest.Count);
        foreach (var (id, row) in pg)
        {
            var line = latest[id];
            if (line.TryGetProperty("plan", out var plan)) Assert.Equal(row[0], plan.ValueKind == JsonValueKind.Null ? null : plan.GetString());
            else Assert.Equal("free", row[0]); // a row never changed since the column was added: its default
            if (line.TryGetProperty("score", out var score) && score.ValueKind != JsonValueKind.Null) Assert.Equal(row[1], score.GetInt64().ToString(CultureInfo.InvariantCulture));
            if (row[3] == "after the drop") Assert.False(line.TryGetProperty("legacy_code", out _), $"id {id}: a line after the drop has legacy_code");
        }
        Assert.Contains(latest.Values, l => l.TryGetProperty("residence", out var r) && r.ValueKind == JsonValueKind.Null);
    }

    private static async Task<Dictionary<long, string?[]>> PostgresAsync(string cs, string sql)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new Dictionary<long, string?[]>();
        while (await r.ReadAsync())
            rows[r.GetInt64(0)] = [.. Enumerable.Range(1, r.FieldCount - 1).Select(i => r.IsDBNull(i) ? null : Convert.ToString(r.GetValue(i), CultureInfo.InvariantCulture))];
        return rows;
    }

    private static async Task<Dictionary<long, string?[]>> MySqlAsync(string cs, string sql)
    {
        await using var conn = new MySqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new MySqlCommand(sql, conn);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new Dictionary<long, string?[]>();
        while (await r.ReadAsync())
            rows[r.GetInt64(0)] = [.. Enumerable.Range(1, r.FieldCount - 1).Select(i => r.IsDBNull(i) ? null : Convert.ToString(r.GetValue(i), CultureInfo.InvariantCulture))];
        return rows;
    }

    private static async Task<string> MySqlScalarAsync(string cs, string sql)
    {
        await using var conn = new MySqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new MySqlCommand(sql, conn);
        return Convert.ToString(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture) ?? "";
    }
}
