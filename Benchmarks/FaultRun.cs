using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.Shared;
using MySqlConnector;
using Npgsql;

namespace KafkaPipeline.Benchmarks;

/// <summary>One fault of a fault run and what the stores held once the pipeline had caught up after it.</summary>
public sealed record FaultResult(string Fault, double SecondsToRecover, long RowsChecked, long Lost, long Doubled, long Stale, string Note)
{
    public bool Clean => Lost == 0 && Doubled == 0 && Stale == 0 && Note.Length == 0;
}

/// <summary>
/// The fault run (eng/faults.sh): the source and both sinks as processes on storage of their own, under load (the
/// Generator inserting and updating, and writers updating, deleting and committing late), and one fault after another.
/// After each fault the load pauses until MySQL and the lake (through the Lake command's current-state view) equal
/// PostgreSQL, and the stores are checked: lost (a PostgreSQL row missing), stale (a row with an older version, or a
/// deleted row still there), doubled (one change stored twice in the lake), and no record in the dead-letter topic.
/// </summary>
public sealed class FaultRun(BenchmarkSettings settings, TextWriter log)
{
    private const string Topic = "P_USERS";
    private static readonly TimeSpan s_recoveryTimeout = TimeSpan.FromMinutes(4);
    private static readonly TimeSpan s_loadAroundFault = TimeSpan.FromSeconds(5);
    private readonly Stopwatch _total = Stopwatch.StartNew();

    /// <summary>A fault: what it does to the running pipeline (it returns once the fault is over).</summary>
    public sealed record Fault(string Name, Func<Pipeline, CancellationToken, Task> Inject);

    /// <summary>Every fault of the full run, in order.</summary>
    public static IReadOnlyList<Fault> All { get; } =
    [
        .. BenchmarkRunner.Services.Select(s => new Fault($"kill -9 {s}", (p, ct) => p.KillAndRestartAsync(s, ct))),
        // Frozen past the sinks' session timeout (10 s here) and the source's lease: the group moves on without it.
        .. BenchmarkRunner.Services.Select(s => new Fault($"SIGSTOP {s} for 25 s", (p, ct) => p.FreezeAsync(s, TimeSpan.FromSeconds(25), ct))),
        new("Kafka broker down for 15 s", (p, ct) => p.BrokerDownAsync(TimeSpan.FromSeconds(15), ct)),
        new("restart MariaDB", (p, ct) => p.RestartServerAsync("mariadb", ct)),
        new("restart s3rver", (p, ct) => p.RestartServerAsync("s3rver", ct)),
        new("restart PostgreSQL", (p, ct) => p.RestartServerAsync("postgres", ct)),
    ];

    /// <summary>The short run (eng/faults.sh --quick, and the tests): no server restarts, the servers may be shared.</summary>
    public static IReadOnlyList<Fault> Short { get; } =
    [
        .. All.Where(f => f.Name is "kill -9 MySqlSinkService" or "SIGSTOP SourceService for 25 s" or "SIGSTOP S3SinkService for 25 s"
            or "Kafka broker down for 15 s"),
    ];

    public async Task<List<FaultResult>> RunAsync(IReadOnlyList<Fault> faults, CancellationToken ct)
    {
        var name = $"kp_faults_{DateTime.UtcNow:yyyyMMddHHmmss}_{Random.Shared.Next(0x10000):x4}";
        var pgCs = await BenchmarkRunner.CreatePostgresDatabaseAsync(settings.Postgres, name, ct);
        var mysqlCs = await BenchmarkRunner.CreateMySqlDatabaseAsync(settings.MySql, name, ct);
        var bucket = name.Replace('_', '-');
        var s3Options = new S3Options { ServiceUrl = settings.S3Url, Bucket = bucket, AccessKey = settings.S3AccessKey, SecretKey = settings.S3SecretKey };
        using (var s3 = s3Options.CreateClient()) await s3.EnsureBucketAsync(bucket, ct);
        using var cluster = EmbeddedKafkaCluster.Start(1);
        cluster.CreateTopic(Topic, settings.Partitions);
        cluster.CreateTopic(TopicNames.DeadLetter(Topic), 1);
        var env = BenchmarkRunner.ServiceEnvironment(pgCs, cluster.BootstrapServers, mysqlCs, settings, bucket, name);
        env["MySqlSink__ConsumerOverrides__session.timeout.ms"] = "10000";
        env["S3Sink__ConsumerOverrides__session.timeout.ms"] = "10000";
        Say($"storage: PostgreSQL and MySQL database {name}, bucket {bucket}, embedded Kafka {cluster.BootstrapServers}; logs in {settings.LogDir}");

        await using var pipeline = new Pipeline(settings, env, cluster, pgCs, Say);
        await pipeline.StartAsync(ct);
        var lake = new LakeReader(settings, bucket);
        var results = new List<FaultResult>();
        foreach (var fault in faults)
        {
            Say($"fault: {fault.Name}");
            await Task.Delay(s_loadAroundFault, ct);
            string note = "";
            try
            {
                await fault.Inject(pipeline, ct);
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or NpgsqlException)
            {
                note = $"the fault could not be injected: {e.Message}";
            }
            await Task.Delay(s_loadAroundFault, ct);
            await pipeline.PauseLoadAsync(ct);
            var result = await CheckAsync(fault.Name, pipeline, pgCs, mysqlCs, lake, cluster.BootstrapServers, ct);
            if (note.Length > 0) result = result with { Note = note };
            results.Add(result);
            Say($"  {(result.Clean ? "clean" : "NOT CLEAN")}: recovered in {result.SecondsToRecover:F1} s; {result.RowsChecked:N0} rows checked, " +
                $"{result.Lost} lost, {result.Doubled} doubled, {result.Stale} stale {result.Note}");
            pipeline.ResumeLoad();
        }
        await pipeline.PauseLoadAsync(ct);
        return results;
    }

    /// <summary>Waits until MySQL and the lake equal PostgreSQL (or the recovery timeout), then counts what differs.</summary>
    private static async Task<FaultResult> CheckAsync(string fault, Pipeline pipeline, string pgCs, string mysqlCs, LakeReader lake, string bootstrap,
        CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var pg = await RowsAsync(pgCs, ct);
        Comparison mysql = default, inLake = default;
        while (clock.Elapsed < s_recoveryTimeout)
        {
            pipeline.ThrowIfAServiceExited();
            mysql = Compare(pg, await MySqlRowsAsync(mysqlCs, ct));
            if (mysql.Equal)
            {
                inLake = Compare(pg, await lake.CurrentRowsAsync(ct));
                if (inLake.Equal) break;
            }
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
        var recovered = clock.Elapsed.TotalSeconds;
        if (!mysql.Equal) inLake = Compare(pg, await lake.CurrentRowsAsync(ct)); // what the lake holds too, for the report
        var doubled = await lake.DoubledAsync(ct);
        var deadLetters = await EmbeddedKafkaCluster.CountMessagesAsync(bootstrap, TopicNames.DeadLetter(Topic), ct);
        var notes = new List<string>();
        if (!mysql.Equal || !inLake.Equal) notes.Add($"not equal after {s_recoveryTimeout.TotalMinutes:F0} min (MySQL {mysql}, lake {inLake})");
        if (deadLetters > 0) notes.Add($"{deadLetters} records in the dead-letter topic");
        return new FaultResult(fault, Math.Round(recovered, 1), pg.Count, mysql.Missing + inLake.Missing, doubled,
            mysql.Older + mysql.Extra + inLake.Older + inLake.Extra, string.Join("; ", notes));
    }

    private readonly record struct Comparison(long Missing, long Older, long Extra)
    {
        public bool Equal => Missing == 0 && Older == 0 && Extra == 0;
        public override string ToString() => $"{Missing} missing, {Older} different, {Extra} deleted but present";
    }

    private static Comparison Compare(Dictionary<long, string> expected, Dictionary<long, string> actual)
    {
        long missing = 0, older = 0;
        foreach (var (id, row) in expected)
        {
            if (!actual.TryGetValue(id, out var other)) missing++;
            else if (other != row) older++;
        }
        return new Comparison(missing, older, actual.Keys.Count(id => !expected.ContainsKey(id)));
    }

    /// <summary>The columns the check compares: what the writers and the Generator change.</summary>
    private const string Columns = "id, name, mail, job";

    private static string Row(object? name, object? mail, object? job) => $"{name}\u001f{mail}\u001f{job}";

    private static async Task<Dictionary<long, string>> RowsAsync(string pgCs, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(pgCs);
        await conn.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand($"SELECT {Columns} FROM users", conn);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var rows = new Dictionary<long, string>();
        while (await r.ReadAsync(ct)) rows[r.GetInt64(0)] = Row(r.GetValue(1), r.GetValue(2), r.GetValue(3));
        return rows;
    }

    private static async Task<Dictionary<long, string>> MySqlRowsAsync(string mysqlCs, CancellationToken ct)
    {
        var rows = new Dictionary<long, string>();
        try
        {
            await using var conn = new MySqlConnection(mysqlCs);
            await conn.OpenAsync(ct);
            await using var cmd = new MySqlCommand($"SELECT {Columns} FROM users", conn);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) rows[r.GetInt64(0)] = Row(r.GetValue(1), r.GetValue(2), r.GetValue(3));
        }
        catch (MySqlException)
        {
            // MariaDB restarting, or the table not created yet: nothing there for now.
        }
        return rows;
    }

    /// <summary>The lake through the Lake command, in process, with a cache of its own (objects are fetched once).</summary>
    private sealed class LakeReader(BenchmarkSettings settings, string bucket)
    {
        private readonly string _cache = Path.Combine(Path.GetTempPath(), $"kp-faults-lake-{bucket}");

        public async Task<Dictionary<long, string>> CurrentRowsAsync(CancellationToken ct)
        {
            var rows = new Dictionary<long, string>();
            foreach (var line in await QueryAsync($"select {Columns} from users", ct))
            {
                using var doc = JsonDocument.Parse(line);
                var o = doc.RootElement;
                rows[long.Parse(o.GetProperty("id").GetRawText(), CultureInfo.InvariantCulture)] =
                    Row(Text(o.GetProperty("name")), Text(o.GetProperty("mail")), Text(o.GetProperty("job")));
            }
            return rows;

            static string? Text(JsonElement e) => e.ValueKind == JsonValueKind.Null ? null : e.GetString();
        }

        /// <summary>Streamed changes stored more than once (the same key, history and position).</summary>
        public async Task<long> DoubledAsync(CancellationToken ct)
        {
            var lines = await QueryAsync("""
                select count(*) as n from (
                  select __key, __epoch, __commit_lsn, __change_lsn from users_changes
                  where __change_lsn is not null and __change_lsn <> '0/0'
                  group by all having count(*) > 1)
                """, ct);
            using var doc = JsonDocument.Parse(lines.Single());
            return doc.RootElement.GetProperty("n").GetInt64();
        }

        private async Task<List<string>> QueryAsync(string sql, CancellationToken ct)
        {
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();
            var exit = await KafkaPipeline.Lake.LakeCommand.RunAsync(
                ["sql", sql, "--format", "json", "--cache-dir", _cache,
                 $"--ConnectionStrings:s3=Endpoint={settings.S3Url};Bucket={bucket};AccessKey={settings.S3AccessKey};SecretKey={settings.S3SecretKey}"],
                stdout, stderr, ct);
            if (exit != 0) return []; // s3rver restarting, or no object yet: nothing read this time
            return [.. stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)];
        }
    }

    private void Say(string line) => log.WriteLine($"[{_total.Elapsed.TotalSeconds,6:F1}s] {line}");

    /// <summary>The running pipeline and its load, and the faults' means of injecting themselves.</summary>
    public sealed class Pipeline(BenchmarkSettings settings, Dictionary<string, string?> env, EmbeddedKafkaCluster cluster, string pgCs,
        Action<string> say) : IAsyncDisposable
    {
        private readonly Dictionary<string, PipelineProcess> _services = new(StringComparer.Ordinal);
        private PipelineProcess? _generator;
        private readonly CancellationTokenSource _stop = new();
        private readonly NpgsqlDataSource _db = NpgsqlDataSource.Create(pgCs);
        private Task? _writers;
        private volatile bool _paused;

        public async Task StartAsync(CancellationToken ct)
        {
            _generator = PipelineProcess.Start("Generator", new Dictionary<string, string?>(env)
            {
                ["Generator__RatePerSecond"] = "200",
                ["Generator__UpdateFraction"] = "0.2",
            }, settings.LogDir);
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (await CountAsync(ct) < 500)
            {
                if (_generator.HasExited || DateTime.UtcNow > deadline)
                    throw new InvalidOperationException($"the Generator wrote too little; log {_generator.LogPath}:\n{_generator.Tail}");
                await Task.Delay(200, ct);
            }
            foreach (var s in BenchmarkRunner.Services) _services[s] = PipelineProcess.Start(s, env, settings.LogDir);
            _writers = Task.Run(() => WritersAsync(_stop.Token), CancellationToken.None);
        }

        public void ThrowIfAServiceExited()
        {
            if (_services.Values.FirstOrDefault(s => s.HasExited) is { } dead)
                throw new InvalidOperationException($"{dead.Name} exited ({dead.ExitCode}); log {dead.LogPath}:\n{dead.Tail}");
        }

        /// <summary>Stops the writes (the Generator frozen, the writers idle) so the stores can catch up with a fixed table.</summary>
        public async Task PauseLoadAsync(CancellationToken ct)
        {
            _paused = true;
            await _generator!.SignalAsync("STOP");
            await Task.Delay(TimeSpan.FromSeconds(2), ct); // transactions under way (late commits included) end
        }

        public void ResumeLoad()
        {
            _paused = false;
            _ = _generator!.SignalAsync("CONT");
        }

        public async Task KillAndRestartAsync(string service, CancellationToken ct)
        {
            await _services[service].SignalAsync("KILL");
            await _services[service].DisposeAsync();
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
            _services[service] = PipelineProcess.Start(service, env, settings.LogDir);
        }

        public async Task FreezeAsync(string service, TimeSpan period, CancellationToken ct)
        {
            await _services[service].SignalAsync("STOP");
            try
            {
                await Task.Delay(period, ct);
            }
            finally
            {
                await _services[service].SignalAsync("CONT");
            }
        }

        public async Task BrokerDownAsync(TimeSpan period, CancellationToken ct)
        {
            cluster.SetBrokerDown(1);
            try
            {
                await Task.Delay(period, ct);
            }
            finally
            {
                cluster.SetBrokerUp(1);
            }
        }

        /// <summary>eng/servers.sh restart: a graceful stop of one server of this run's profile, and a start.</summary>
        public async Task RestartServerAsync(string server, CancellationToken ct)
        {
            var script = Path.Combine(PipelineProcess.RepoRoot(), "eng", "servers.sh");
            using var p = Process.Start(new ProcessStartInfo("bash", [script, "restart", Environment.GetEnvironmentVariable("KP_PROFILE") ?? "run", server])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            var output = p.StandardOutput.ReadToEndAsync(ct);
            var errors = p.StandardError.ReadToEndAsync(ct);
            await p.WaitForExitAsync(ct);
            if (p.ExitCode != 0) throw new InvalidOperationException($"eng/servers.sh restart {server} exited with {p.ExitCode}: {await errors}{await output}");
            say($"  {server} restarted");
        }

        /// <summary>
        /// Updates and deletes of random users every 100 ms, and now and then a transaction that commits seconds after
        /// later ones (its changes must still arrive, in commit order).
        /// </summary>
        private async Task WritersAsync(CancellationToken ct)
        {
            var random = new Random(7);
            var late = new List<Task>();
            for (var round = 0; !ct.IsCancellationRequested; round++)
            {
                try
                {
                    await Task.Delay(100, ct);
                    if (_paused) continue;
                    var max = await new PgStore(_db, "users").MaxIdAsync(ct);
                    if (max < 10) continue;
                    await using var conn = await _db.OpenConnectionAsync(ct);
                    await using (var update = new NpgsqlCommand("UPDATE users SET job = @job WHERE id = ANY(@ids)", conn))
                    {
                        update.Parameters.AddWithValue("job", $"writer {round}");
                        update.Parameters.AddWithValue("ids", Enumerable.Range(0, 3).Select(_ => random.NextInt64(1, max + 1)).ToArray());
                        await update.ExecuteNonQueryAsync(ct);
                    }
                    if (round % 5 == 0)
                    {
                        await using var delete = new NpgsqlCommand("DELETE FROM users WHERE id = @id", conn);
                        delete.Parameters.AddWithValue("id", random.NextInt64(1, max + 1));
                        await delete.ExecuteNonQueryAsync(ct);
                    }
                    if (round % 20 == 0)
                    {
                        late.RemoveAll(t => t.IsCompleted);
                        late.Add(LateCommitAsync(random.NextInt64(1, max + 1), round, ct));
                    }
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
                {
                    // PostgreSQL restarting: the next round tries again.
                }
            }
            try { await Task.WhenAll(late); } catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException) { }
        }

        private async Task LateCommitAsync(long id, int round, CancellationToken ct)
        {
            await using var conn = await _db.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            await using (var update = new NpgsqlCommand("UPDATE users SET job = @job WHERE id = @id", conn, tx))
            {
                update.Parameters.AddWithValue("job", $"late {round}");
                update.Parameters.AddWithValue("id", id);
                await update.ExecuteNonQueryAsync(ct);
            }
            await Task.Delay(TimeSpan.FromSeconds(1.5), ct);
            await tx.CommitAsync(ct);
        }

        private async Task<long> CountAsync(CancellationToken ct)
        {
            try
            {
                return await new PgStore(_db, "users").CountAsync(ct);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
            {
                return 0; // the Generator has not created it yet
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            if (_writers is not null) await _writers;
            if (_generator is not null)
            {
                await _generator.SignalAsync("CONT");
                await _generator.DisposeAsync();
            }
            foreach (var s in _services.Values) await s.DisposeAsync();
            _stop.Dispose();
            await _db.DisposeAsync();
        }
    }
}

/// <summary>The fault run's table (Markdown, as docs/guarantees.md shows it) and JSON.</summary>
public static class FaultReport
{
    public static string Table(IReadOnlyList<FaultResult> results)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        sb.AppendLine("| fault | recovered after (s) | rows checked | lost | doubled | stale | note |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---|");
        foreach (var r in results)
            sb.AppendLine(string.Create(c, $"| {r.Fault} | {r.SecondsToRecover:F1} | {r.RowsChecked:N0} | {r.Lost} | {r.Doubled} | {r.Stale} | {r.Note} |"));
        sb.AppendLine(string.Create(c, $"| total | | | {results.Sum(r => r.Lost)} | {results.Sum(r => r.Doubled)} | {results.Sum(r => r.Stale)} | {(results.All(r => r.Clean) ? "every fault clean" : "NOT CLEAN")} |"));
        return sb.ToString();
    }

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static string Json(IReadOnlyList<FaultResult> results, string command) => JsonSerializer.Serialize(new
    {
        command,
        finishedUtc = DateTime.UtcNow,
        ok = results.All(r => r.Clean),
        faults = results,
    }, s_json);
}
