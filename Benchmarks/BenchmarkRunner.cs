using System.Diagnostics;
using System.Globalization;
using Amazon.S3;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.Shared;
using KafkaPipeline.SourceService;
using MySqlConnector;
using Npgsql;

namespace KafkaPipeline.Benchmarks;

/// <summary>
/// Runs the whole benchmark on fresh storage of its own (a PostgreSQL and a MySQL database kp_bench_*, a bucket, an
/// in-process embedded Kafka): users, stage limits, backfill, latency at each rate, memory, correctness.
/// Every figure comes from the stores: PostgreSQL commit timestamps, MySQL synced_at, the bucket's objects and their
/// stored times, Kafka high watermarks. The services' own logs and metrics are not used.
/// </summary>
public sealed class BenchmarkRunner(BenchmarkSettings settings, TextWriter log)
{
    public const string Topic = "P_USERS";
    public const string StageTopic = "BENCH_STAGE";
    /// <summary>Where the polling source writes for the comparison ({prefix}USERS with Source:TopicPrefix POLL_).</summary>
    public const string PollingTopic = "POLL_USERS";
    /// <summary>Where the Cdc source writes when it runs alone for the comparison (Source:TopicPrefix CDC_).</summary>
    public const string CdcTopic = "CDC_USERS";
    private const int WarmUpRate = 100;
    private const int WarmUpSeconds = 2;
    private const string Table = "users";
    internal static readonly string[] Services = ["SourceService", "MySqlSinkService", "S3SinkService"];

    private readonly Stopwatch _total = Stopwatch.StartNew();

    /// <summary>Set once the run has its storage: the bucket and MySQL connection string (tests inspect them).</summary>
    public string? Bucket { get; private set; }
    public string? MySqlConnectionString { get; private set; }

    public async Task<BenchmarkReport> RunAsync(string command, CancellationToken ct)
    {
        var name = $"kp_bench_{DateTime.UtcNow:yyyyMMddHHmmss}_{Random.Shared.Next(0x10000):x4}";
        var pgCs = await CreatePostgresDatabaseAsync(settings.Postgres, name, ct);
        var mysqlCs = MySqlConnectionString = await CreateMySqlDatabaseAsync(settings.MySql, name, ct);
        var bucket = Bucket = name.Replace('_', '-');
        var s3Options = new S3Options { ServiceUrl = settings.S3Url, Bucket = bucket, AccessKey = settings.S3AccessKey, SecretKey = settings.S3SecretKey };
        using var s3 = s3Options.CreateClient();
        await s3.EnsureBucketAsync(bucket, ct);

        using var cluster = EmbeddedKafkaCluster.Start(1);
        cluster.CreateTopic(Topic, settings.Partitions);
        cluster.CreateTopic(TopicNames.DeadLetter(Topic), 1);
        cluster.CreateTopic(StageTopic, settings.Partitions);
        cluster.CreateTopic(PollingTopic, settings.Partitions);
        cluster.CreateTopic(CdcTopic, settings.Partitions);
        foreach (var compression in new[] { Confluent.Kafka.CompressionType.None, Confluent.Kafka.CompressionType.Lz4 })
            cluster.CreateTopic(KafkaStore.SizesTopic(compression), 1);
        await using var db = NpgsqlDataSource.Create(pgCs);
        var pg = new PgStore(db, Table);
        var mysql = new MySqlStore(mysqlCs, Table);
        using var kafka = new KafkaStore(cluster.BootstrapServers, Topic, settings.Partitions);
        var inventory = new S3Inventory(s3, bucket, "topics/", settings.S3DataDir);

        var report = new BenchmarkReport
        {
            StartedUtc = DateTime.UtcNow,
            Machine = Machine(),
            Command = command,
            Users = settings.Users,
            LatencySeconds = settings.LatencySeconds,
            Rates = settings.Rates,
            PostgresTime = "", // set below, once the users table exists
            LogDir = settings.LogDir,
            ServiceEnvironment = settings.ServiceEnvironment,
        };
        Say($"storage: PostgreSQL and MySQL database {name}, bucket {bucket}, embedded Kafka {cluster.BootstrapServers} " +
            $"({settings.Partitions} partitions, keeps all messages); service logs in {settings.LogDir}");

        var env = ServiceEnvironment(pgCs, cluster.BootstrapServers, mysqlCs, settings, bucket, name);
        var stageSlot = name + "_stage";
        await StageLimits.CreateReplicationStageAsync(db, pgCs, stageSlot, ct);

        // 1. The users of the backfill, written by the Generator as fast as it goes.
        Say($"inserting {settings.Users:N0} users with the Generator");
        var (insertSeconds, generatorPeak) = await GenerateAsync(env, 1_000_000, settings.Users, "insert", ct);
        var count = await pg.CountAsync(ct);
        if (count != settings.Users) throw new InvalidOperationException($"the Generator wrote {count} users, not {settings.Users}");
        Say($"  {count:N0} users in {insertSeconds:F1} s ({count / insertSeconds:N0}/s)");
        report.Memory.Add(new MemoryResult("Generator", Mb(generatorPeak), $"inserting {settings.Users:N0} users at full speed"));
        var commitTime = await pg.TracksCommitTimeAsync(ct);
        report = report with
        {
            PostgresTime = commitTime
                ? "commit timestamp of the writing transaction (pg_xact_commit_timestamp(xmin), track_commit_timestamp=on)"
                : "updated_at (start of the writing transaction; track_commit_timestamp is off)",
        };

        // 2. Stage limits, each alone.
        Say("stage limits (each alone)");
        var (pgStage, sample) = await StageLimits.PostgresReadAsync(db, settings.StageSample, ct);
        AddStage(report, pgStage);
        AddStage(report, await StageLimits.SnapshotReadAsync(db, ct));
        AddStage(report, await StageLimits.LogicalReplicationAsync(db, pgCs, stageSlot, settings.Users, ct));
        AddStage(report, await StageLimits.KafkaProduceAsync(cluster.BootstrapServers, StageTopic, settings.Partitions, sample, ct));
        AddStage(report, await Task.Run(() => StageLimits.KafkaConsume(cluster.BootstrapServers, StageTopic, sample.Count, ct), ct));
        AddStage(report, await StageLimits.MySqlUpsertAsync(mysqlCs, sample, ct));
        AddStage(report, await StageLimits.S3PutAsync(s3, bucket + "-stage", settings.Partitions, sample, ct));
        sample.Clear();

        // 3. Backfill, then 4. latency, with the same three service processes.
        var services = new List<PipelineProcess>();
        try
        {
            var backfillOk = await BackfillAsync(report, env, services, pg, mysql, kafka, inventory, ct);
            if (backfillOk)
            {
                long expectedTotal = settings.Users;
                // Warm-up, not measured: the backfill ran the source's snapshot path; its first streamed changes would
                // otherwise pay for JIT-compiling the streaming path (one user at 1 user/s, the p99 of 60).
                var warmUp = await LatencyAsync(report, env, services, WarmUpRate, expectedTotal, pg, mysql, kafka, inventory, ct, warmUpSeconds: WarmUpSeconds);
                expectedTotal += warmUp?.Users ?? 0;
                foreach (var rate in warmUp is null ? [] : settings.Rates)
                {
                    var result = await LatencyAsync(report, env, services, rate, expectedTotal, pg, mysql, kafka, inventory, ct);
                    expectedTotal += result?.Users ?? 0;
                    if (result is null) break;
                    report.Latency.Add(result);
                }
            }
            var dashboard = new DashboardBenchmark(settings, Say);
            if (backfillOk && settings.ScreenRates.Count > 0 && report.Ok)
            {
                report.ScreenLatency.AddRange(await dashboard.ScreenLatencyAsync(env, pg,
                    (rate, total, what, token) => GenerateAsync(env, rate, total, what, token), report.Failures, ct));
                await DrainAsync(report, pg, mysql, inventory, ct); // the sinks take the screen phase's users too
            }
            foreach (var s in services)
                report.Memory.Add(new MemoryResult(s.Name, Mb(s.SamplePeakRss()), "whole run (backfill and latency phases)"));

            // 5. Correctness over everything written: late duplicates included (wait past the S3 rotation first).
            await Task.Delay(TimeSpan.FromSeconds(2), ct);
            Say("checking every user in Kafka, MySQL and S3");
            await inventory.RefreshAsync(ct);
            await inventory.LoadContentsAsync(ct);
            var pgIds = (await pg.RowsAfterAsync(0, ct)).Select(r => r.Id).ToList();
            report.Failures.AddRange(Verification.Check(pgIds, kafka.HighWatermarks(), await mysql.RowsAfterAsync(0, ct), inventory.Objects));
            report.S3Time = inventory.StoredTimeSource;
            report.TopicRecordSize = kafka.SampleRecordSizes(10_000, ct);

            // 6. A schema change while the services run (last: its update is one more version of a user).
            if (report.Ok) report.SchemaChange = await SchemaChangeAsync(db, mysqlCs, s3, bucket, report.Failures, ct);
        }
        finally
        {
            await StopAsync(services);
        }

        // 7. Each source alone, into a topic of its own: the Cdc source's snapshot, the polling source's backfill and
        //    latency at the same rates (beside the Cdc source's figures from the pipeline phases above).
        if (report.Ok && report.Backfill is { } cdcBackfill)
        {
            try
            {
                var cdcEnv = new Dictionary<string, string?>(env) { ["Source__TopicPrefix"] = "CDC_", ["Source__Slot"] = name + "_alone" };
                report.Sources.Add(await SourceAloneAsync("Cdc, alone", cdcEnv, CdcTopic, cluster.BootstrapServers, pg, ct));
                report.Sources.Add(new SourceComparison("Cdc, in the pipeline", cdcBackfill.Flows[0].UsersPerSecond,
                    report.Latency.Select(l => new SourceLatency(l.RatePerSecond, l.Users, l.PostgresToKafka)).ToList(),
                    "the backfill and latency phases above: both sinks read while it writes"));
                var pollEnv = new Dictionary<string, string?>(env) { ["Source__Mode"] = "TimestampIncrementing", ["Source__TopicPrefix"] = "POLL_" };
                report.Sources.Add(await SourceAloneAsync("TimestampIncrementing (polling), alone", pollEnv, PollingTopic, cluster.BootstrapServers, pg, ct));
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException)
            {
                report.Failures.Add($"source comparison: {e.Message}");
            }
        }
        // 8. Backfills that change one thing, measured alike: a second table, the lake in Parquet.
        if (report.Ok && settings.Variants)
            report.Variants.AddRange(await new BackfillVariants(settings, Say).RunAsync(name, env, cluster, db, s3, report.Failures, ct));
        await DropSlotsAsync(db, ct);

        if (settings.DashboardUsers > 0 && report.Ok)
        {
            report.DashboardMemory = await new DashboardBenchmark(settings, Say).MemoryAsync(cluster, report.Failures, ct);
            if (report.DashboardMemory is { } d)
                report.Memory.Add(new MemoryResult("Dashboard", d.PeakRssMegabytes, $"replaying {d.Users:N0} users into its state"));
        }

        report.Machine.LoadAverage += " -> " + LoadAverage() + " at the end";
        Goals(report);
        report.TotalSeconds = Math.Round(_total.Elapsed.TotalSeconds, 1);
        return report;
    }

    /// <summary>
    /// The pause a schema change costs: from the <c>ALTER TABLE</c> to the first row carrying the new column in MySQL
    /// (the sink alters its table first) and to the first lake line carrying it.
    /// </summary>
    private async Task<SchemaChangeResult?> SchemaChangeAsync(NpgsqlDataSource db, string mysqlCs, IAmazonS3 s3, string bucket,
        List<string> failures, CancellationToken ct)
    {
        const string alter = "ALTER TABLE users ADD COLUMN bench_plan text DEFAULT 'free'";
        Say("schema change: " + alter);
        var before = new HashSet<string>(await ObjectKeysAsync(s3, bucket, ct));
        var clock = Stopwatch.StartNew();
        await using (var cmd = db.CreateCommand(alter)) await cmd.ExecuteNonQueryAsync(ct);
        long id;
        await using (var cmd = db.CreateCommand("UPDATE users SET bench_plan = 'pro' WHERE id = (SELECT max(id) FROM users) RETURNING id"))
            id = (long)(await cmd.ExecuteScalarAsync(ct))!;
        double? toMySql = null, toLake = null;
        var deadline = TimeSpan.FromSeconds(60);
        while (clock.Elapsed < deadline && (toMySql is null || toLake is null))
        {
            if (toMySql is null && await MySqlPlanAsync(mysqlCs, id, ct) == "pro") toMySql = clock.Elapsed.TotalMilliseconds;
            if (toLake is null)
            {
                foreach (var key in (await ObjectKeysAsync(s3, bucket, ct)).Where(before.Add))
                {
                    using var o = await s3.GetObjectAsync(bucket, key, ct);
                    using var reader = new StreamReader(o.ResponseStream);
                    if ((await reader.ReadToEndAsync(ct)).Contains("\"bench_plan\":\"pro\"", StringComparison.Ordinal))
                        toLake = clock.Elapsed.TotalMilliseconds;
                }
            }
            await Task.Delay(TimeSpan.FromMilliseconds(5), ct);
        }
        if (toMySql is null)
        {
            failures.Add($"schema change: the new column's value was not in MySQL {deadline.TotalSeconds:F0} s after `{alter}`");
            return null;
        }
        Say(string.Create(CultureInfo.InvariantCulture, $"  in MySQL after {toMySql:F0} ms, in the lake after {toLake:F0} ms"));
        return new SchemaChangeResult(alter, Math.Round(toMySql.Value, 1), toLake is { } l ? Math.Round(l, 1) : null);
    }

    private static async Task<string?> MySqlPlanAsync(string mysqlCs, long id, CancellationToken ct)
    {
        await using var conn = new MySqlConnection(mysqlCs);
        await conn.OpenAsync(ct);
        await using var cmd = new MySqlCommand("SELECT bench_plan FROM users WHERE id = @id", conn);
        cmd.Parameters.AddWithValue("@id", id);
        try
        {
            return await cmd.ExecuteScalarAsync(ct) as string;
        }
        catch (MySqlException e) when (e.Number == 1054) // unknown column: the sink has not added it yet
        {
            return null;
        }
    }

    private static async Task<List<string>> ObjectKeysAsync(IAmazonS3 s3, string bucket, CancellationToken ct)
    {
        var keys = new List<string>();
        var request = new Amazon.S3.Model.ListObjectsV2Request { BucketName = bucket, Prefix = $"topics/{Topic}/" };
        Amazon.S3.Model.ListObjectsV2Response page;
        do
        {
            page = await s3.ListObjectsV2Async(request, ct);
            keys.AddRange((page.S3Objects ?? []).Select(o => o.Key));
            request.ContinuationToken = page.NextContinuationToken;
        }
        while (page.IsTruncated == true);
        return keys;
    }

    private async Task<bool> BackfillAsync(BenchmarkReport report, Dictionary<string, string?> env, List<PipelineProcess> services,
        PgStore pg, MySqlStore mysql, KafkaStore kafka, S3Inventory inventory, CancellationToken ct)
    {
        var n = settings.Users;
        Say($"backfill: starting {string.Join(", ", Services)} on {n:N0} users");
        var t0 = DateTime.UtcNow;
        var ownCpuBefore = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        var serversBefore = ServersCpu();
        var clock = Stopwatch.StartNew();
        foreach (var name in Services) services.Add(PipelineProcess.Start(name, env, settings.LogDir));

        var kafkaSeries = new List<Sample>();
        var timeout = settings.DrainTimeout + TimeSpan.FromSeconds(n / 2000.0);
        var nextSlow = TimeSpan.Zero;
        long inMySql = 0, inS3 = 0;
        while (true)
        {
            if (services.FirstOrDefault(s => s.HasExited) is { } dead)
            {
                report.Failures.Add($"{dead.Name} exited ({dead.ExitCode}) during the backfill; log {dead.LogPath}:\n{dead.Tail}");
                return false;
            }
            kafkaSeries.Add(new Sample(clock.Elapsed.TotalSeconds, kafka.Count()));
            if (clock.Elapsed >= nextSlow)
            {
                nextSlow = clock.Elapsed + TimeSpan.FromSeconds(1);
                inMySql = (await mysql.CountAsync(0, ct)).Rows;
                inS3 = await inventory.RefreshAsync(ct);
                foreach (var s in services) s.SamplePeakRss();
                Say($"  {clock.Elapsed.TotalSeconds,5:F1} s: Kafka {kafkaSeries[^1].Users:N0}, MySQL {inMySql:N0}, S3 {inS3:N0}");
                if (inMySql >= n && inS3 >= n) break;
            }
            if (clock.Elapsed > timeout)
            {
                report.Failures.Add($"backfill incomplete after {timeout.TotalSeconds:F0} s: Kafka {kafkaSeries[^1].Users}, MySQL {inMySql}, S3 {inS3} of {n} users");
                return false;
            }
            await Task.Delay(100, ct);
        }
        var ownCpu = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - ownCpuBefore;
        foreach (var s in services)
            report.Memory.Add(new MemoryResult(s.Name, Mb(s.SamplePeakRss()), $"backfill of {n:N0} users") { CpuSeconds = s.CpuSeconds() });
        foreach (var (server, cpu) in ServersCpu())
        {
            if (serversBefore.TryGetValue(server, out var before))
                report.Memory.Add(new MemoryResult(server + " (server)", 0, $"backfill of {n:N0} users") { CpuSeconds = Math.Round(cpu - before, 2) });
        }
        report.Memory.Add(new MemoryResult("Benchmarks (embedded Kafka + sampling)", Mb(Environment.WorkingSet), $"backfill of {n:N0} users (RSS now)")
        {
            CpuSeconds = Math.Round(ownCpu, 2),
        });

        // Flows from the stores' own times: synced_at per row, stored time per object, sampled watermarks.
        var rows = await mysql.RowsAfterAsync(0, ct);
        await inventory.LoadContentsAsync(ct);
        double Since(DateTime t) => (t - t0).TotalSeconds;
        var mysqlEvents = rows.Select(r => (Since(r.SyncedAt), 1L)).ToList();
        var s3Events = inventory.Objects.Select(o => (Since(o.StoredAt), (long)o.Ids!.Count)).ToList();
        var kafkaFirst = kafkaSeries.FindIndex(s => s.Users > 0);
        var kafkaFull = kafkaSeries.FindIndex(s => s.Users >= n);
        var kFirst = kafkaFirst <= 0 ? 0 : (kafkaSeries[kafkaFirst - 1].Seconds + kafkaSeries[kafkaFirst].Seconds) / 2;
        var kLast = kafkaFull <= 0 ? 0 : (kafkaSeries[kafkaFull - 1].Seconds + kafkaSeries[kafkaFull].Seconds) / 2;
        var flows = new List<StoreFlow>
        {
            new("Kafka", n, kFirst, kLast, n / Math.Max(kLast - kFirst, 1e-3),
                "high watermarks sampled every ~100 ms; first/last = midpoint of the sample interval"),
            Flow("MySQL", mysqlEvents, "synced_at of each row"),
            Flow("S3", s3Events, "stored time of each object, weighted by its lines"),
        };
        var both = Math.Max(flows[1].LastAtSeconds, flows[2].LastAtSeconds);
        var slowest = report.Stages.Where(s => s.OnBackfillPath).MinBy(s => s.UsersPerSecond)!;
        var e2e = n / Math.Max(both - kFirst, 1e-3);
        report.Backfill = new BackfillResult(
            n, flows, Math.Round(both, 2), Math.Round(both - kFirst, 2), Math.Round(e2e),
            slowest.Name, Math.Round(slowest.UsersPerSecond), Math.Round(e2e / slowest.UsersPerSecond, 3),
            Math.Round(flows[1].UsersPerSecond / slowest.UsersPerSecond, 3),
            inventory.Objects.Count, Math.Round(inventory.Objects.Average(o => (double)o.Bytes)),
            Downsample(kafkaSeries), Cumulative(mysqlEvents), Cumulative(s3Events));
        foreach (var f in flows) Say($"  into {f.Store}: {f.UsersPerSecond:N0} users/s ({f.FirstAtSeconds:F2} s .. {f.LastAtSeconds:F2} s after start)");
        Say($"  both sinks hold all {n:N0} users {both:F2} s after the services started ({both - kFirst:F2} s after the first record reached Kafka)");
        return true;
    }

    private async Task<LatencyResult?> LatencyAsync(BenchmarkReport report, Dictionary<string, string?> env, List<PipelineProcess> services,
        double rate, long expectedBefore, PgStore pg, MySqlStore mysql, KafkaStore kafka, S3Inventory inventory, CancellationToken ct,
        int? warmUpSeconds = null)
    {
        var seconds = warmUpSeconds ?? settings.LatencySeconds;
        var total = Math.Max(1, (long)Math.Round(rate * seconds));
        Say($"latency at {rate:G} users/s: {total:N0} users in {seconds} s{(warmUpSeconds is null ? "" : " (warm-up, not measured)")}");
        var before = await pg.MaxIdAsync(ct);
        var marksBefore = kafka.HighWatermarks();
        var (_, peak) = await GenerateAsync(env, rate, total, $"rate-{rate:G}", ct);
        if (warmUpSeconds is null) report.Memory.Add(new MemoryResult("Generator", Mb(peak), $"{rate:G} users/s"));

        var pgRows = await pg.RowsAfterAsync(before, ct);
        if (pgRows.Count != total)
        {
            report.Failures.Add($"latency {rate:G}/s: the Generator wrote {pgRows.Count} users, not {total}");
            return null;
        }
        var deadline = DateTime.UtcNow + settings.DrainTimeout;
        long inMySql, inS3;
        while (true)
        {
            if (services.FirstOrDefault(s => s.HasExited) is { } dead)
            {
                report.Failures.Add($"{dead.Name} exited ({dead.ExitCode}) during the latency phase; log {dead.LogPath}:\n{dead.Tail}");
                return null;
            }
            inMySql = (await mysql.CountAsync(before, ct)).Rows;
            inS3 = await inventory.RefreshAsync(ct) - expectedBefore;
            foreach (var s in services) s.SamplePeakRss();
            if (inMySql >= total && inS3 >= total) break;
            if (DateTime.UtcNow > deadline)
            {
                report.Failures.Add($"latency {rate:G}/s: after {settings.DrainTimeout.TotalSeconds:F0} s MySQL holds {inMySql}, S3 {inS3} of {total} new users");
                return null;
            }
            await Task.Delay(200, ct);
        }

        var mysqlRows = (await mysql.RowsAfterAsync(before, ct)).ToDictionary(r => r.Id);
        await inventory.LoadContentsAsync(ct);
        var storedAt = new Dictionary<long, DateTime>();
        foreach (var o in inventory.Objects)
        {
            foreach (var id in o.Ids!)
            {
                if (id > before) storedAt[id] = o.StoredAt;
            }
        }
        var kafkaTimes = kafka.ReadTimestamps(marksBefore, kafka.HighWatermarks(), ct);

        List<double> toMySql = [], toS3 = [], toKafka = [], kafkaToMySql = [], kafkaToS3 = [];
        foreach (var row in pgRows)
        {
            if (mysqlRows.TryGetValue(row.Id, out var m)) toMySql.Add((m.SyncedAt - row.CommittedAt).TotalMilliseconds);
            if (storedAt.TryGetValue(row.Id, out var s)) toS3.Add((s - row.CommittedAt).TotalMilliseconds);
            if (!kafkaTimes.TryGetValue(row.Id, out var k)) continue;
            toKafka.Add((k - row.CommittedAt).TotalMilliseconds);
            if (mysqlRows.TryGetValue(row.Id, out m)) kafkaToMySql.Add((m.SyncedAt - k).TotalMilliseconds);
            if (storedAt.TryGetValue(row.Id, out s)) kafkaToS3.Add((s - k).TotalMilliseconds);
        }
        var span = (pgRows[^1].CommittedAt - pgRows[0].CommittedAt).TotalSeconds;
        var result = new LatencyResult(rate, settings.LatencySeconds, total,
            Math.Round(span > 0 ? (total - 1) / span : total, 1),
            Percentiles.Of(toMySql), Percentiles.Of(toS3), Percentiles.Of(toKafka), Percentiles.Of(kafkaToMySql), Percentiles.Of(kafkaToS3));
        Say($"  PG->MySQL p50/p95/p99/max {Show(result.PostgresToMySql)} ms; PG->S3 {Show(result.PostgresToS3)} ms");
        return result;
    }

    /// <summary>Until MySQL and the bucket hold every PostgreSQL user (after a phase that did not wait for the sinks).</summary>
    private async Task DrainAsync(BenchmarkReport report, PgStore pg, MySqlStore mysql, S3Inventory inventory, CancellationToken ct)
    {
        var users = await pg.CountAsync(ct);
        var deadline = DateTime.UtcNow + settings.DrainTimeout;
        while (true)
        {
            var inMySql = (await mysql.CountAsync(0, ct)).Rows;
            var inS3 = await inventory.RefreshAsync(ct);
            if (inMySql >= users && inS3 >= users) return;
            if (DateTime.UtcNow > deadline)
            {
                report.Failures.Add($"after the screen phase: MySQL holds {inMySql}, S3 {inS3} of {users} users after {settings.DrainTimeout.TotalSeconds:F0} s");
                return;
            }
            await Task.Delay(200, ct);
        }
    }

    private async Task StopAsync(List<PipelineProcess> services)
    {
        foreach (var s in services)
        {
            await s.StopAsync(TimeSpan.FromSeconds(15));
            if (s.HasExited && s.ExitCode != 0)
                Say($"  {s.Name} exited with {s.ExitCode} at stop (log {s.LogPath})");
            await s.DisposeAsync();
        }
        services.Clear();
    }

    /// <summary>
    /// SourceService alone with <paramref name="sourceEnv"/>, into <paramref name="topic"/>: the whole table as a backfill
    /// (rate from the first to the last message, watermarks sampled every 100 ms), then the Generator at each rate:
    /// PostgreSQL commit to the Kafka message's timestamp per user.
    /// </summary>
    private async Task<SourceComparison> SourceAloneAsync(string label, Dictionary<string, string?> sourceEnv, string topic, string bootstrap,
        PgStore pg, CancellationToken ct)
    {
        var prefix = sourceEnv["Source__TopicPrefix"]!;
        if (TopicNames.ForTable(prefix, Table) != topic) throw new InvalidOperationException($"prefix {prefix} does not write {topic}");
        Say($"{label}, into {topic}");
        using var store = new KafkaStore(bootstrap, topic, settings.Partitions);
        var expected = await pg.CountAsync(ct);
        var services = new List<PipelineProcess> { PipelineProcess.Start("SourceService", sourceEnv, settings.LogDir) };
        try
        {
            var series = new List<Sample>();
            var clock = Stopwatch.StartNew();
            var timeout = settings.DrainTimeout + TimeSpan.FromSeconds(expected / 2000.0);
            while (series.Count == 0 || series[^1].Users < expected)
            {
                if (services[0].HasExited) throw new InvalidOperationException($"{label}: SourceService exited ({services[0].ExitCode}); log {services[0].LogPath}");
                if (clock.Elapsed > timeout) throw new TimeoutException($"{label}: {expected} users not published within {timeout}");
                series.Add(new Sample(clock.Elapsed.TotalSeconds, store.Count()));
                await Task.Delay(100, ct);
            }
            var first = series.FindIndex(x => x.Users > 0);
            var backfill = expected / Math.Max(series[^1].Seconds - series[Math.Max(first - 1, 0)].Seconds, 1e-3);
            Say($"  backfill into {topic}: {backfill:N0} users/s");

            var latencies = new List<SourceLatency>();
            // Warm-up, not measured, as in the pipeline phase.
            await GenerateAsync(sourceEnv, WarmUpRate, WarmUpRate * WarmUpSeconds, $"{prefix}warm-up", ct);
            expected += WarmUpRate * WarmUpSeconds;
            var warm = DateTime.UtcNow + settings.DrainTimeout;
            while (store.Count() < expected && DateTime.UtcNow < warm) await Task.Delay(100, ct);
            foreach (var rate in settings.Rates)
            {
                var total = Math.Max(1, (long)Math.Round(rate * settings.LatencySeconds));
                var before = await pg.MaxIdAsync(ct);
                var marks = store.HighWatermarks();
                await GenerateAsync(sourceEnv, rate, total, $"{prefix}rate-{rate:G}", ct);
                var deadline = DateTime.UtcNow + settings.DrainTimeout;
                while (store.Count() < expected + total && DateTime.UtcNow < deadline) await Task.Delay(100, ct);
                expected += total;
                var times = store.ReadTimestamps(marks, store.HighWatermarks(), ct);
                var toKafka = (await pg.RowsAfterAsync(before, ct))
                    .Where(r => times.ContainsKey(r.Id)).Select(r => (times[r.Id] - r.CommittedAt).TotalMilliseconds).ToList();
                latencies.Add(new SourceLatency(rate, total, Percentiles.Of(toKafka)));
                Say($"  {rate:G} users/s: PG->Kafka p50/p95/p99/max {Show(latencies[^1].PostgresToKafka)} ms ({toKafka.Count} of {total})");
            }
            var options = new SourceOptions();
            var mode = sourceEnv.GetValueOrDefault("Source__Mode") ?? nameof(SourceMode.Cdc);
            return new SourceComparison(label, Math.Round(backfill), latencies, mode == nameof(SourceMode.Cdc)
                ? $"SourceService alone into {topic} after the pipeline phases: a new slot's initial snapshot of the whole table, then the rates"
                : $"SourceService alone into {topic} after the pipeline phases (poll interval {options.PollInterval.TotalMilliseconds:F0} ms, delay {options.Delay.TotalMilliseconds:F0} ms)");
        }
        finally
        {
            await StopAsync(services);
        }
    }

    /// <summary>The run's replication slots (the Cdc source's and the stage's, if left): slots keep WAL and are cluster-wide.</summary>
    private static async Task DropSlotsAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active");
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>CPU seconds so far of the servers eng/servers.sh started (PostgreSQL with its backends), by name.</summary>
    private Dictionary<string, double> ServersCpu()
    {
        var result = new Dictionary<string, double>();
        if (settings.ServersPidDir is null) return result;
        foreach (var file in Directory.EnumerateFiles(settings.ServersPidDir, "*.pid"))
        {
            if (!int.TryParse(File.ReadAllText(file).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            var name = Path.GetFileNameWithoutExtension(file);
            var cpu = name == "postgres" ? ProcessCpu.SecondsWithChildren(pid) : ProcessCpu.Seconds(pid);
            if (cpu is { } c) result[name] = c;
        }
        return result;
    }

    /// <summary>Runs the Generator to completion: <paramref name="total"/> users at <paramref name="rate"/>/s.</summary>
    private async Task<(double Seconds, long? PeakRss)> GenerateAsync(Dictionary<string, string?> env, double rate, long total, string what, CancellationToken ct)
    {
        var generatorEnv = new Dictionary<string, string?>(env)
        {
            ["Generator__RatePerSecond"] = rate.ToString(CultureInfo.InvariantCulture),
            ["Generator__TotalCount"] = total.ToString(CultureInfo.InvariantCulture),
            ["Generator__Seed"] = "5",
        };
        var clock = Stopwatch.StartNew();
        await using var generator = PipelineProcess.Start("Generator", generatorEnv, settings.LogDir);
        var timeout = TimeSpan.FromSeconds(120 + total / Math.Min(rate, 2000));
        var exit = await generator.WaitForExitAsync(timeout, ct);
        if (exit != 0) throw new InvalidOperationException($"Generator ({what}) exited with {exit}; log {generator.LogPath}:\n{generator.Tail}");
        return (clock.Elapsed.TotalSeconds, generator.PeakRssBytes);
    }

    private static void Goals(BenchmarkReport r)
    {
        if (!r.Ok)
        {
            r.Goals.Add(new GoalResult("all goals", null, "run FAILED", "a failed run is not a speed: see failures"));
            return;
        }
        if (r.Backfill is { } b)
        {
            var my = b.Flows.Single(f => f.Store == "MySQL").UsersPerSecond;
            r.Goals.Add(new GoalResult("backfill into MySQL >= 50,000 users/s", my >= 50_000, $"{my:N0} users/s", ""));
            r.Goals.Add(new GoalResult("backfill into MySQL >= 70% of the slowest stage limit", b.MySqlRatioToSlowestStage >= 0.7,
                $"{b.MySqlRatioToSlowestStage:P0} of {b.SlowestStage} ({b.SlowestStageUsersPerSecond:N0}/s)", ""));
        }
        foreach (var l in r.ScreenLatency)
        {
            r.Goals.Add(l.PostgresToScreen is { } screen
                ? new GoalResult($"p99 PostgreSQL -> count on a Dashboard page at {l.RatePerSecond:G} users/s <= 1 s", screen.P99 <= 1000, $"{screen.P99:F0} ms (n={screen.Count})", "")
                : new GoalResult($"p99 PostgreSQL -> count on a Dashboard page at {l.RatePerSecond:G} users/s <= 1 s", null, "not measured", ""));
        }
        if (r.DashboardMemory is { } d)
        {
            var state = d.PeakRssMegabytes - d.IdleRssMegabytes;
            r.Goals.Add(new GoalResult($"Dashboard: state for {d.Users:N0} users well under 150 MB", state < 100,
                $"{state:F0} MB (peak RSS {d.PeakRssMegabytes:F0} MB - {d.IdleRssMegabytes:F0} MB with no users)",
                $"managed heap after catching up {d.ManagedHeapMegabytes:F1} MB; {d.RssWithBrowsersMegabytes:F0} MB with {d.Browsers} event-stream clients"));
        }
        if (r.Sources.FirstOrDefault(s => s.Mode == "Cdc, alone") is { } alone && r.Backfill is { } bf)
            r.Goals.Add(new GoalResult($"initial snapshot of {r.Users:N0} users into Kafka >= 50,000 users/s", alone.BackfillIntoKafkaUsersPerSecond >= 50_000,
                $"{alone.BackfillIntoKafkaUsersPerSecond:N0} users/s alone", $"{bf.Flows[0].UsersPerSecond:N0} users/s in the backfill, with both sinks reading"));
        foreach (var rate in r.Rates)
        {
            var l = r.Latency.FirstOrDefault(x => x.RatePerSecond == rate);
            r.Goals.Add(l?.PostgresToKafka is { } k
                ? new GoalResult($"p99 PostgreSQL commit -> Kafka <= 25 ms at {rate:G} users/s", k.P99 <= 25, $"{k.P99:F1} ms (n={k.Count})", "Kafka time = message CreateTime")
                : new GoalResult($"p99 PostgreSQL commit -> Kafka <= 25 ms at {rate:G} users/s", null, "not measured", ""));
            r.Goals.Add(l?.PostgresToMySql is { } m
                ? new GoalResult($"p99 PostgreSQL commit -> MySQL row <= 100 ms at {rate:G} users/s", m.P99 <= 100, $"{m.P99:F0} ms (n={m.Count})", "")
                : new GoalResult($"p99 PostgreSQL commit -> MySQL row <= 100 ms at {rate:G} users/s", null, "not measured", ""));
        }
        r.Goals.Add(r.SchemaChange is { } change
            ? new GoalResult("a column added to users reaches MySQL within 5 s", change.ToMySqlMilliseconds <= 5000, $"{change.ToMySqlMilliseconds:F0} ms",
                change.ToLakeMilliseconds is { } lake ? $"the lake after {lake:F0} ms" : "not seen in the lake")
            : new GoalResult("a column added to users reaches MySQL within 5 s", null, "not measured", ""));
        if (r.TopicRecordSize is { } size)
            r.Goals.Add(new GoalResult("bytes per user on the topic (reported, no goal)", null, $"{size.TotalBytes:F0} B", $"schema {size.SchemaBytes:F0} B of it; sent {size.WireBytesLz4:F0} B with lz4, {size.WireBytesUncompressed:F0} B without"));
        var oneTable = r.Variants.FirstOrDefault(v => v.Tables == "users" && v.Format == "json");
        if (oneTable is not null && r.Variants.FirstOrDefault(v => v.Tables.Contains(',', StringComparison.Ordinal)) is { } two)
            r.Goals.Add(new GoalResult("two-table backfill into MySQL >= 90% of the one-table rows/s", two.IntoMySqlRowsPerSecond >= 0.9 * oneTable.IntoMySqlRowsPerSecond,
                $"{two.IntoMySqlRowsPerSecond:N0} rows/s = {two.IntoMySqlRowsPerSecond / oneTable.IntoMySqlRowsPerSecond:P0} of {oneTable.IntoMySqlRowsPerSecond:N0}", two.Label));
        if (oneTable is not null && r.Variants.FirstOrDefault(v => v.Format == "parquet") is { } parquet)
        {
            r.Goals.Add(new GoalResult("S3 sink backfill with parquet >= with json", parquet.IntoS3RowsPerSecond >= oneTable.IntoS3RowsPerSecond,
                $"{parquet.IntoS3RowsPerSecond:N0} rows/s vs {oneTable.IntoS3RowsPerSecond:N0}", $"lake bytes per user {parquet.LakeBytesPerUser:F0} (parquet) vs {oneTable.LakeBytesPerUser:F0} (json)"));
            if (parquet.LakeQuery is { } q)
                r.Goals.Add(new GoalResult($"lake query over the {parquet.Rows:N0}-user lake, cached, < 2 s", q.CachedSeconds < 2, $"{q.CachedSeconds:F2} s", $"{q.FirstSeconds:F2} s the first time, fetching"));
        }
        foreach (var m in r.Memory.Where(m => Services.Contains(m.Service) && m.When.StartsWith("backfill", StringComparison.Ordinal)))
            r.Goals.Add(new GoalResult($"{m.Service} < 150 MB resident", m.PeakRssMegabytes < 150, $"{m.PeakRssMegabytes:F0} MB", "peak (VmHWM) during the backfill"));
    }

    private static StoreFlow Flow(string store, List<(double At, long Users)> events, string how)
    {
        if (events.Count == 0) return new StoreFlow(store, 0, 0, 0, 0, how);
        var first = events.Min(e => e.At);
        var last = events.Max(e => e.At);
        var total = events.Sum(e => e.Users);
        // What the first write carried was not timed (it started before the first timestamp): leave it out of the rate.
        var atFirst = events.Where(e => e.At == first).Sum(e => e.Users);
        var rate = last > first ? (total - atFirst) / (last - first) : 0;
        return new StoreFlow(store, total, Math.Round(first, 3), Math.Round(last, 3), Math.Round(rate), how);
    }

    private static List<Sample> Cumulative(List<(double At, long Users)> events)
    {
        var result = new List<Sample>();
        long sum = 0;
        foreach (var g in events.GroupBy(e => Math.Ceiling(e.At * 4) / 4).OrderBy(g => g.Key))
        {
            sum += g.Sum(e => e.Users);
            result.Add(new Sample(g.Key, sum));
        }
        return result;
    }

    private static List<Sample> Downsample(List<Sample> samples) =>
        samples.GroupBy(s => Math.Ceiling(s.Seconds * 4) / 4).Select(g => new Sample(Math.Round(g.Key, 2), g.Max(s => s.Users))).ToList();

    private void AddStage(BenchmarkReport report, StageResult stage)
    {
        report.Stages.Add(stage);
        Say($"  {stage.Name}: {stage.PerSecond:N0} {stage.Unit}/s ({stage.Items:N0} in {stage.Seconds:F2} s; {stage.UsersPerSecond:N0} users/s)" +
            (stage.MegabytesPerSecond is { } mb ? $", {mb:F1} MB/s" : ""));
    }

    internal static async Task<string> CreatePostgresDatabaseAsync(string server, string name, CancellationToken ct)
    {
        await using (var conn = new NpgsqlConnection(server))
        {
            await conn.OpenAsync(ct);
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {SqlIdentifier.QuotePostgres(name)}", conn);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        return new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
    }

    /// <summary>What every service process of a run gets: its stores, a protection key of its own, its slot.</summary>
    internal static Dictionary<string, string?> ServiceEnvironment(string pgCs, string bootstrap, string mysqlCs, BenchmarkSettings settings,
        string bucket, string slot)
    {
        var env = new Dictionary<string, string?>
        {
            ["ConnectionStrings__usersdb"] = pgCs,
            ["ConnectionStrings__kafka"] = bootstrap,
            ["ConnectionStrings__emaildb"] = mysqlCs,
            ["S3__ServiceUrl"] = settings.S3Url,
            ["S3__Bucket"] = bucket,
            ["S3__AccessKey"] = settings.S3AccessKey,
            ["S3__SecretKey"] = settings.S3SecretKey,
            // A key of this run's own: the services run in Production, which refuses the development key.
            ["Protection__Key"] = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24)),
            // Slots are cluster-wide: one named after this run's database (the test suite runs the smoke version beside others).
            ["Source__Slot"] = slot,
        };
        foreach (var (key, value) in settings.ServiceEnvironment) env[key] = value;
        return env;
    }

    internal static async Task<string> CreateMySqlDatabaseAsync(string server, string name, CancellationToken ct)
    {
        await using (var conn = new MySqlConnection(server))
        {
            await conn.OpenAsync(ct);
            await using var cmd = new MySqlCommand(
                $"CREATE DATABASE {SqlIdentifier.QuoteMySql(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", conn);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        return new MySqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
    }

    private void Say(string line) => log.WriteLine($"[{_total.Elapsed.TotalSeconds,6:F1}s] {line}");

    private static double Mb(long? bytes) => Math.Round((bytes ?? 0) / 1048576.0, 1);

    internal static string Show(Percentiles? p) => p is null ? "-" : $"{p.P50:F0}/{p.P95:F0}/{p.P99:F0}/{p.Max:F0}";

    private static MachineInfo Machine()
    {
        static string Read(string file, string prefix) =>
            File.Exists(file) ? File.ReadLines(file).FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?" : "?";
        var memKb = double.TryParse(Read("/proc/meminfo", "MemTotal").Split(' ')[0], CultureInfo.InvariantCulture, out var kb) ? kb : 0;
        var debian = File.Exists("/etc/debian_version") ? " (Debian " + File.ReadAllText("/etc/debian_version").Trim() + ")" : "";
        return new MachineInfo(Read("/proc/cpuinfo", "model name"), Environment.ProcessorCount, Math.Round(memKb / 1048576, 1),
            System.Runtime.InteropServices.RuntimeInformation.OSDescription + debian,
            System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription, Commit())
        { LoadAverage = LoadAverage() + " at the start" };
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

    /// <summary>HEAD of the repository, marked when the measured code has uncommitted changes.</summary>
    private static string Commit()
    {
        try
        {
            var repo = PipelineProcess.RepoRoot();
            string Git(params string[] args)
            {
                var start = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = repo };
                foreach (var a in args) start.ArgumentList.Add(a);
                using var p = Process.Start(start)!;
                var output = p.StandardOutput.ReadToEnd().Trim();
                p.WaitForExit();
                return output;
            }
            var head = Git("rev-parse", "--short", "HEAD");
            var dirty = Git(["status", "--porcelain", "--", "Shared", "SourceService", "MySqlSinkService", "S3SinkService", "Generator",
                "EmbeddedKafka", "ServiceDefaults", "Benchmarks", "Directory.Build.props", "Directory.Packages.props"]);
            return dirty.Length == 0 ? head : head + " + uncommitted changes";
        }
        catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }
}
