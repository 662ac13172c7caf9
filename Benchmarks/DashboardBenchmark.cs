using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.Generator;
using KafkaPipeline.Shared;

namespace KafkaPipeline.Benchmarks;

/// <summary>
/// The Dashboard's figures: latency from the PostgreSQL commit to the customer count changing in a real
/// headless browser page, and the Dashboard's memory with 1,000,000 users of state (and with many browsers).
/// </summary>
public sealed class DashboardBenchmark(BenchmarkSettings settings, Action<string> say)
{
    /// <summary>
    /// Starts the Dashboard on the pipeline's topic and a chromium page on it, then per rate lets the Generator write
    /// users for the phase's seconds. The page records each change of the count with the time it was painted
    /// (requestAnimationFrame after the update); a user's latency is the first paint whose count includes it minus its
    /// transaction's commit time (same machine, same clock).
    /// </summary>
    public async Task<List<ScreenLatencyResult>> ScreenLatencyAsync(Dictionary<string, string?> env, PgStore pg,
        Func<double, long, string, CancellationToken, Task> generate, List<string> failures, CancellationToken ct)
    {
        var results = new List<ScreenLatencyResult>();
        var url = $"http://127.0.0.1:{FreePort()}";
        // No login: it listens on 127.0.0.1 only, which is what Dashboard:Authentication=none requires.
        await using var dashboard = PipelineProcess.Start("Dashboard",
            new Dictionary<string, string?>(env) { ["ASPNETCORE_URLS"] = url, ["Dashboard__Authentication"] = "none" }, settings.LogDir);
        await WaitAliveAsync(dashboard, url, ct);
        await using var chromium = await HeadlessChromium.LaunchAsync();
        var page = await chromium.NewPageAsync(line => say("  " + line));
        await page.GotoAsync(url + "/");
        foreach (var rate in settings.ScreenRates)
        {
            var total = Math.Max(1, (long)Math.Round(rate * settings.LatencySeconds));
            var before = await pg.CountAsync(ct);
            var maxId = await pg.MaxIdAsync(ct);
            say($"screen latency at {rate:G} users/s: {total:N0} users; waiting for the page to show {before:N0}");
            if (!await WaitForPageCountAsync(page, before, ct))
            {
                failures.Add($"screen latency {rate:G}/s: the page never showed {before} customers before the phase");
                break;
            }
            await page.EvaluateAsync("() => { window.dashboard.countChanges = []; }");
            await generate(rate, total, $"screen-{rate:G}", ct);
            if (!await WaitForPageCountAsync(page, before + total, ct))
            {
                failures.Add($"screen latency {rate:G}/s: the page did not reach {before + total} customers within {settings.DrainTimeout.TotalSeconds:F0} s");
                break;
            }
            var changes = await page.EvaluateAsync<CountChange[]>("() => window.dashboard.countChanges");
            var rows = (await pg.RowsAfterAsync(maxId, ct)).OrderBy(r => r.CommittedAt).ThenBy(r => r.Id).ToList();
            var latencies = new List<double>();
            for (var k = 0; k < rows.Count; k++)
            {
                var shown = changes.FirstOrDefault(c => c.Count >= before + k + 1);
                if (shown is null) continue;
                latencies.Add(shown.At - (rows[k].CommittedAt - DateTime.UnixEpoch).TotalMilliseconds);
            }
            var result = new ScreenLatencyResult(rate, settings.LatencySeconds, rows.Count, changes.Length, Percentiles.Of(latencies));
            results.Add(result);
            say($"  PG commit -> count on screen p50/p95/p99/max {BenchmarkRunner.Show(result.PostgresToScreen)} ms ({changes.Length} repaints of the count)");
        }
        dashboard.SamplePeakRss();
        return results;
    }

    /// <summary>
    /// Produces <see cref="BenchmarkSettings.DashboardUsers"/> users straight into a topic of their own, starts a
    /// Dashboard on it and waits until it holds them all (replay from the beginning), sampling its memory; then holds
    /// that state while <see cref="BenchmarkSettings.DashboardBrowsers"/> Server-Sent-Events clients follow it.
    /// </summary>
    public async Task<DashboardMemoryResult?> MemoryAsync(EmbeddedKafkaCluster cluster, List<string> failures, CancellationToken ct)
    {
        var users = settings.DashboardUsers;
        const string prefix = "BENCH_DASHBOARD_";
        var topic = TopicNames.ForTable(prefix, "users");
        cluster.CreateTopic(topic, settings.Partitions);
        var environment = new Dictionary<string, string?>
        {
            ["ConnectionStrings__kafka"] = cluster.BootstrapServers,
            ["Dashboard__TopicPrefix"] = prefix,
            ["Dashboard__Authentication"] = "none", // 127.0.0.1 only
            ["Protection__Key"] = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24)),
        };
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        // The same program with no users: what the runtime, ASP.NET Core and librdkafka take by themselves.
        var idleUrl = $"http://127.0.0.1:{FreePort()}";
        double idle;
        await using (var empty = PipelineProcess.Start("Dashboard", new Dictionary<string, string?>(environment) { ["ASPNETCORE_URLS"] = idleUrl }, settings.LogDir))
        {
            await WaitAliveAsync(empty, idleUrl, ct);
            await Task.Delay(TimeSpan.FromSeconds(5), ct);
            idle = Mb(empty.SamplePeakRss());
        }
        say($"Dashboard memory: {idle:F0} MB resident with no users; producing {users:N0} users into {topic}");
        await Task.Run(() => Produce(cluster.BootstrapServers, topic, users), ct);

        var url = $"http://127.0.0.1:{FreePort()}";
        await using var dashboard = PipelineProcess.Start("Dashboard", new Dictionary<string, string?>(environment) { ["ASPNETCORE_URLS"] = url }, settings.LogDir);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        http.BaseAddress = new Uri(url);
        var deadline = DateTime.UtcNow + settings.DrainTimeout + TimeSpan.FromSeconds(users / 20_000.0);
        while (true)
        {
            dashboard.SamplePeakRss();
            if (dashboard.HasExited)
            {
                failures.Add($"the Dashboard exited ({dashboard.ExitCode}) while loading {users} users; log {dashboard.LogPath}:\n{dashboard.Tail}");
                return null;
            }
            var view = await SnapshotAsync(http, ct);
            if (view is { CaughtUp: true } && view.Customers == users && ManagedHeap(dashboard.Tail) is null)
            {
                await Task.Delay(200, ct); // the catch-up line is written right after
                continue;
            }
            if (view is { CaughtUp: true } v && v.Customers == users) break;
            if (DateTime.UtcNow > deadline)
            {
                failures.Add($"the Dashboard held {view?.Customers} of {users} users after {clock.Elapsed.TotalSeconds:F0} s");
                return null;
            }
            await Task.Delay(250, ct);
        }
        var replaySeconds = clock.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(3), ct); // let the replay's garbage be collected
        var peak = dashboard.SamplePeakRss();
        var rss = dashboard.CurrentRssBytes();
        var heap = ManagedHeap(dashboard.Tail);
        say($"  {users:N0} users in {replaySeconds:F1} s; peak RSS {Mb(peak):F0} MB, now {Mb(rss):F0} MB; managed heap {heap:F1} MB");

        var browsers = settings.DashboardBrowsers;
        using var followers = new CancellationTokenSource();
        var received = new int[browsers];
        var streams = Enumerable.Range(0, browsers).Select(i => Task.Run(() => FollowAsync(url, i, received, followers.Token), ct)).ToList();
        await Task.Delay(TimeSpan.FromSeconds(10), ct);
        var rssWithBrowsers = dashboard.CurrentRssBytes();
        peak = dashboard.SamplePeakRss();
        await followers.CancelAsync();
        await Task.WhenAll(streams);
        var connected = received.Count(n => n > 0);
        say($"  with {connected} of {browsers} event-stream clients following it: RSS {Mb(rssWithBrowsers):F0} MB");
        if (connected < browsers) failures.Add($"only {connected} of {browsers} event-stream clients received an update");
        return new DashboardMemoryResult(users, idle, Math.Round(replaySeconds, 1), Math.Round(users / replaySeconds), Mb(peak), Mb(rss),
            heap, connected, Mb(rssWithBrowsers));
    }

    /// <summary>Realistic values (the Generator's fake users, 1,000 of them cycled with new ids) at full producer speed.</summary>
    private static void Produce(string bootstrap, string topic, long users)
    {
        var fakes = new FakeUsers(seed: 12);
        var samples = Enumerable.Range(0, 1000).Select(_ => fakes.Next()).ToArray();
        using var producer = new ProducerBuilder<byte[], byte[]>(KafkaSettings.Producer(bootstrap, "bench-dashboard")).Build();
        var now = DateTime.UtcNow;
        for (long id = 1; id <= users; id++)
        {
            var f = samples[id % samples.Length];
            var user = new UserRecord
            {
                Id = id, Name = f.Name, Username = f.Username, Sex = f.Sex, Address = f.Address, Mail = f.Mail, Birthdate = f.Birthdate,
                Job = f.Job, Company = f.Company, Ssn = f.Ssn, Residence = f.Residence,
                CreatedAt = now.AddSeconds(-(users - id) * 0.01), UpdatedAt = now,
            };
            while (true)
            {
                try
                {
                    producer.Produce(topic, new Message<byte[], byte[]>
                    {
                        Key = Encoding.UTF8.GetBytes(id.ToString(CultureInfo.InvariantCulture)),
                        Value = UsersEvents.Value(user),
                    });
                    break;
                }
                catch (ProduceException<byte[], byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(50));
                }
            }
        }
        producer.Flush(TimeSpan.FromMinutes(2));
    }

    /// <summary>"managed heap N MB" from the reader's catch-up line: the .NET heap after a full collection.</summary>
    private static double? ManagedHeap(string log)
    {
        var m = System.Text.RegularExpressions.Regex.Match(log, @"managed heap ([\d.]+) MB");
        return m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    private static async Task FollowAsync(string url, int index, int[] received, CancellationToken ct)
    {
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = Timeout.InfiniteTimeSpan };
            using var response = await http.GetAsync("/api/dashboard/events", HttpCompletionOption.ResponseHeadersRead, ct);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
            while (!ct.IsCancellationRequested && await reader.ReadLineAsync(ct) is { } line)
            {
                if (line.StartsWith("data:", StringComparison.Ordinal)) Interlocked.Increment(ref received[index]);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (HttpRequestException)
        {
        }
    }

    private static async Task<bool> WaitForPageCountAsync(Microsoft.Playwright.IPage page, long count, CancellationToken ct)
    {
        try
        {
            await page.WaitForFunctionAsync("n => document.querySelector('[data-testid=customer-count]')?.dataset.value === String(n)",
                count, new() { Timeout = 120_000, PollingInterval = 100 });
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
        finally
        {
            ct.ThrowIfCancellationRequested();
        }
    }

    private static async Task<SnapshotView?> SnapshotAsync(HttpClient http, CancellationToken ct)
    {
        try
        {
            var json = await http.GetStringAsync("/api/dashboard/snapshot", ct);
            return JsonSerializer.Deserialize<SnapshotView>(json, JsonSerializerOptions.Web);
        }
        catch (HttpRequestException)
        {
            return null; // not listening yet
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return null; // the client's timeout: busy replaying, asked again until the deadline
        }
    }

    private static async Task WaitAliveAsync(PipelineProcess process, string url, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (await SnapshotAsync(http, ct) is null)
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"the Dashboard did not start; log {process.LogPath}:\n{process.Tail}");
            await Task.Delay(200, ct);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static double Mb(long? bytes) => Math.Round((bytes ?? 0) / 1048576.0, 1);

    /// <summary>One repaint of the count as the page logged it (ms since 1970 on the page's clock).</summary>
    private sealed class CountChange
    {
        public long Count { get; set; }
        public double At { get; set; }
    }

    private sealed record SnapshotView(long Customers, bool CaughtUp);
}
