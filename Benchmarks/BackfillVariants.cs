using System.Diagnostics;
using System.Globalization;
using Amazon.S3;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.Shared;
using MySqlConnector;
using Npgsql;

namespace KafkaPipeline.Benchmarks;

/// <summary>
/// Backfills of the same users with one thing changed, each on storage of its own (topic prefix, slot, publication,
/// MySQL database, bucket) and all measured the same way, so they compare with each other: the three services start,
/// and each store's figure runs from the first record in Kafka until the store holds every row (MySQL: rows counted;
/// S3: the objects' record counts). The variants: one table in JSON (the baseline), two tables (users and a second
/// table of half as many rows), one table in Parquet.
/// </summary>
public sealed class BackfillVariants(BenchmarkSettings settings, Action<string> say)
{
    private const string SecondTable = "orders";

    private sealed record Variant(string Label, string Prefix, string Tables, string Format);

    private static readonly Variant[] All =
    [
        new("users, json", "VA_", "users", "json"),
        new("users + orders, json", "VB_", "users," + SecondTable, "json"),
        new("users, parquet", "VC_", "users", "parquet"),
    ];

    public async Task<List<VariantResult>> RunAsync(string name, Dictionary<string, string?> env, EmbeddedKafkaCluster cluster,
        NpgsqlDataSource db, IAmazonS3 s3, List<string> failures, CancellationToken ct)
    {
        var users = await new PgStore(db, "users").CountAsync(ct);
        var orders = users / 2;
        await CreateSecondTableAsync(db, orders, ct);
        var results = new List<VariantResult>();
        foreach (var v in All)
        {
            try
            {
                results.Add(await RunAsync(v, name, env, cluster, s3, v.Tables.Contains(SecondTable, StringComparison.Ordinal) ? users + orders : users, users, ct));
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException)
            {
                failures.Add($"backfill variant {v.Label}: {e.Message}");
                break;
            }
        }
        return results;
    }

    private async Task<VariantResult> RunAsync(Variant v, string name, Dictionary<string, string?> baseEnv, EmbeddedKafkaCluster cluster,
        IAmazonS3 s3, long rows, long users, CancellationToken ct)
    {
        var id = name + "_" + v.Prefix.TrimEnd('_').ToLowerInvariant();
        var mysqlCs = await BenchmarkRunner.CreateMySqlDatabaseAsync(settings.MySql, id, ct);
        var bucket = id.Replace('_', '-');
        await s3.EnsureBucketAsync(bucket, ct);
        var tables = v.Tables.Split(',');
        var topics = tables.Select(t => TopicNames.ForTable(v.Prefix, t)).ToList();
        foreach (var topic in topics)
        {
            cluster.CreateTopic(topic, settings.Partitions);
            cluster.CreateTopic(TopicNames.DeadLetter(topic), 1);
        }
        var env = new Dictionary<string, string?>(baseEnv)
        {
            ["Pipeline__Tables"] = v.Tables,
            ["Source__Slot"] = id,
            ["Source__Publication"] = id,
            ["Source__TopicPrefix"] = v.Prefix,
            ["MySqlSink__TopicPrefix"] = v.Prefix,
            ["MySqlSink__GroupId"] = id + "_mysql",
            ["S3Sink__TopicPrefix"] = v.Prefix,
            ["S3Sink__GroupId"] = id + "_s3",
            ["S3Sink__Format"] = v.Format,
            ["ConnectionStrings__emaildb"] = mysqlCs,
            ["S3__Bucket"] = bucket,
        };
        say($"backfill variant {v.Label}: {rows:N0} rows into {string.Join(", ", topics)}, MySQL database {id}, bucket {bucket}");
        var kafka = topics.Select(t => new KafkaStore(cluster.BootstrapServers, t, settings.Partitions)).ToList();
        var inventory = new S3Inventory(s3, bucket, "topics/", settings.S3DataDir);
        var services = BenchmarkRunner.Services.Select(s => PipelineProcess.Start(s, env, settings.LogDir)).ToList();
        try
        {
            var clock = Stopwatch.StartNew();
            var timeout = settings.DrainTimeout + TimeSpan.FromSeconds(rows / 2000.0);
            double? kafkaFirst = null, kafkaDone = null, mysqlDone = null, s3Done = null;
            var nextSay = TimeSpan.FromSeconds(1);
            while (mysqlDone is null || s3Done is null)
            {
                if (services.FirstOrDefault(s => s.HasExited) is { } dead)
                    throw new InvalidOperationException($"{dead.Name} exited ({dead.ExitCode}); log {dead.LogPath}:\n{dead.Tail}");
                if (clock.Elapsed > timeout) throw new TimeoutException($"not every row in both stores after {timeout.TotalSeconds:F0} s");
                var now = clock.Elapsed.TotalSeconds;
                var inKafka = kafka.Sum(k => k.Count());
                if (inKafka > 0) kafkaFirst ??= now;
                if (inKafka >= rows) kafkaDone ??= now;
                long inMySql = 0;
                foreach (var t in tables) inMySql += await MySqlRowsAsync(mysqlCs, t, ct);
                if (inMySql >= rows) mysqlDone ??= clock.Elapsed.TotalSeconds;
                var inS3 = await inventory.RefreshAsync(ct);
                if (inS3 >= rows) s3Done ??= clock.Elapsed.TotalSeconds;
                foreach (var s in services) s.SamplePeakRss();
                if (clock.Elapsed >= nextSay)
                {
                    nextSay += TimeSpan.FromSeconds(1);
                    say($"  {now,5:F1} s: Kafka {inKafka:N0}, MySQL {inMySql:N0}, S3 {inS3:N0}");
                }
                await Task.Delay(100, ct);
            }
            double Rate(double done) => Math.Round(rows / Math.Max(done - kafkaFirst!.Value, 1e-3));
            var usersTopic = $"topics/{topics[0]}/";
            var usersObjects = inventory.Objects.Where(o => o.Key.StartsWith(usersTopic, StringComparison.Ordinal)).ToList();
            var result = new VariantResult(v.Label, v.Tables, v.Format, rows, Rate(kafkaDone ?? mysqlDone!.Value), Rate(mysqlDone!.Value), Rate(s3Done!.Value),
                inventory.Objects.Count, Math.Round(usersObjects.Sum(o => (double)o.Bytes) / users, 1),
                services.Select(s => new MemoryResult(s.Name, Math.Round((s.SamplePeakRss() ?? 0) / 1048576.0, 1), $"backfill, {v.Label}") { CpuSeconds = s.CpuSeconds() }).ToList());
            say(string.Create(CultureInfo.InvariantCulture,
                $"  into Kafka {result.IntoKafkaRowsPerSecond:N0} rows/s, MySQL {result.IntoMySqlRowsPerSecond:N0} rows/s, S3 {result.IntoS3RowsPerSecond:N0} rows/s; {result.LakeBytesPerUser:F0} bytes per user in the lake"));
            if (v.Format == "parquet") result = result with { LakeQuery = await LakeQueryAsync(bucket, ct) };
            return result;
        }
        finally
        {
            foreach (var s in services)
            {
                await s.StopAsync(TimeSpan.FromSeconds(15));
                await s.DisposeAsync();
            }
            foreach (var k in kafka) k.Dispose();
        }
    }

    /// <summary>The lake command (eng/lake.sh) over the variant's bucket, run twice as a user runs it: fetching, then cached.</summary>
    private async Task<LakeQueryResult> LakeQueryAsync(string bucket, CancellationToken ct)
    {
        const string query = "select residence, count(*) from users group by 1";
        var cacheDir = Path.Combine(Path.GetTempPath(), $"kp-bench-lake-{bucket}");
        var times = new List<double>();
        for (var run = 0; run < 2; run++)
        {
            var clock = Stopwatch.StartNew();
            await using var lake = PipelineProcess.Start("Lake", new Dictionary<string, string?>
            {
                ["ConnectionStrings__s3"] = $"Endpoint={settings.S3Url};Bucket={bucket};AccessKey={settings.S3AccessKey};SecretKey={settings.S3SecretKey}",
            }, settings.LogDir, ["sql", query, "--format", "csv", "--cache-dir", cacheDir]);
            var exit = await lake.WaitForExitAsync(TimeSpan.FromMinutes(5), ct);
            if (exit != 0) throw new InvalidOperationException($"Lake exited with {exit}; log {lake.LogPath}:\n{lake.Tail}");
            times.Add(Math.Round(clock.Elapsed.TotalSeconds, 2));
        }
        try { Directory.Delete(cacheDir, recursive: true); } catch (IOException) { }
        say($"  lake query `{query}`: {times[0]:F2} s fetching the objects, {times[1]:F2} s cached");
        return new LakeQueryResult(query, times[0], times[1]);
    }

    private static async Task CreateSecondTableAsync(NpgsqlDataSource db, long rows, CancellationToken ct)
    {
        // A small second table of the kind a sign-up service writes next: orders of existing users.
        await using var cmd = db.CreateCommand($"""
            CREATE TABLE {SecondTable} (
                id bigint PRIMARY KEY,
                user_id bigint NOT NULL,
                amount numeric(10, 2) NOT NULL,
                status text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now());
            INSERT INTO {SecondTable} (id, user_id, amount, status)
            SELECT g, 1 + g % 1000, (g % 10000) / 100.0, CASE WHEN g % 3 = 0 THEN 'paid' ELSE 'open' END
            FROM generate_series(1, @rows) AS g;
            """);
        cmd.Parameters.AddWithValue("rows", rows);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static async Task<long> MySqlRowsAsync(string cs, string table, CancellationToken ct)
    {
        await using var conn = new MySqlConnection(cs);
        await conn.OpenAsync(ct);
        await using var cmd = new MySqlCommand($"SELECT COUNT(*) FROM {SqlIdentifier.QuoteMySql(table)}", conn);
        try
        {
            return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
        }
        catch (MySqlException e) when (e.Number == 1146) // no such table: the sink has not created it yet
        {
            return 0;
        }
    }
}
