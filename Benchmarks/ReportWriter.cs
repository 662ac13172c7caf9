using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace KafkaPipeline.Benchmarks;

/// <summary>The report as a plain-text table (stdout, and pasted into BENCHMARKS.md) and as JSON.</summary>
public static class ReportWriter
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string Json(BenchmarkReport report) => JsonSerializer.Serialize(report, s_json);

    public static string Table(BenchmarkReport r)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        void Line(string s = "") => sb.AppendLine(s);
        Line($"KafkaPipeline benchmark, {r.StartedUtc:yyyy-MM-dd HH:mm} UTC, commit {r.Machine.Commit}: {(r.Ok ? "OK" : "FAILED")}");
        Line($"machine: {r.Machine.Cpu}, {r.Machine.Cores} cores, {r.Machine.MemoryGigabytes} GiB, {r.Machine.Os}, {r.Machine.Runtime}; load average {r.Machine.LoadAverage}");
        Line($"command: {r.Command}");
        if (r.ServiceEnvironment.Count > 0)
            Line("EXPERIMENT, services ran with: " + string.Join(" ", r.ServiceEnvironment.Select(e => e.Key + "=" + e.Value)));
        Line($"users {r.Users:N0}, latency {r.LatencySeconds} s per rate, total {r.TotalSeconds:F0} s");
        Line();
        Line("| stage limit (alone) | rate | users/s | MB/s | how |");
        Line("|---|---:|---:|---:|---|");
        foreach (var s in r.Stages)
        {
            Line(string.Create(c, $"| {s.Name}{(s.OnBackfillPath ? "" : " (not on the backfill's path)")} | {s.PerSecond:N0} {s.Unit}/s | {s.UsersPerSecond:N0} | {(s.MegabytesPerSecond is { } mb ? mb.ToString("F1", c) : "")} | {s.How} |"));
        }
        if (r.Backfill is { } b)
        {
            Line();
            Line(string.Create(c, $"| backfill of {b.Users:N0} users | users/s | first .. last (s after services start) | how |"));
            Line("|---|---:|---|---|");
            foreach (var f in b.Flows)
                Line(string.Create(c, $"| into {f.Store} | {f.UsersPerSecond:N0} | {f.FirstAtSeconds:F2} .. {f.LastAtSeconds:F2} | {f.How} |"));
            Line(string.Create(c, $"| both sinks hold all | {b.EndToEndUsersPerSecond:N0} end to end | {b.SecondsUntilBothSinks:F2} s after start, {b.SecondsFromFirstInKafkaUntilBothSinks:F2} s after the first record in Kafka | |"));
            Line(string.Create(c, $"| slowest stage limit | {b.SlowestStageUsersPerSecond:N0} | {b.SlowestStage} | end to end = {b.EndToEndRatioToSlowestStage:P0} of it, MySQL = {b.MySqlRatioToSlowestStage:P0} |"));
            Line(string.Create(c, $"| S3 objects | {b.S3Objects} | average {b.S3AverageObjectBytes / 1e6:F2} MB | |"));
        }
        if (r.Latency.Count > 0)
        {
            Line();
            Line("| latency (ms) p50/p95/p99/max | users | PG -> MySQL | PG -> S3 | PG -> Kafka | Kafka -> MySQL | Kafka -> S3 |");
            Line("|---|---:|---|---|---|---|---|");
            foreach (var l in r.Latency)
            {
                Line(string.Create(c, $"| {l.RatePerSecond:G} users/s ({l.GeneratedUsersPerSecond:G}/s seen) | {l.Users:N0} | {BenchmarkRunner.Show(l.PostgresToMySql)} | {BenchmarkRunner.Show(l.PostgresToS3)} | {BenchmarkRunner.Show(l.PostgresToKafka)} | {BenchmarkRunner.Show(l.KafkaToMySql)} | {BenchmarkRunner.Show(l.KafkaToS3)} |"));
            }
            Line($"PostgreSQL time: {r.PostgresTime}. MySQL time: {r.MySqlTime}. S3 time: {r.S3Time}.");
            Line("Kafka time: the message timestamp (CreateTime, set by the source's producer), used only for the split.");
        }
        if (r.ScreenLatency.Count > 0)
        {
            Line();
            Line("| PostgreSQL commit -> count on a Dashboard page (ms) | users | repaints | p50 | p95 | p99 | max |");
            Line("|---|---:|---:|---:|---:|---:|---:|");
            foreach (var l in r.ScreenLatency)
            {
                var p = l.PostgresToScreen;
                Line(string.Create(c, $"| {l.RatePerSecond:G} users/s for {l.Seconds} s | {l.Users:N0} | {l.Repaints:N0} | {p?.P50:F0} | {p?.P95:F0} | {p?.P99:F0} | {p?.Max:F0} |"));
            }
            Line("Page time: performance.timeOrigin + now() in the requestAnimationFrame after the count's update (headless chromium); a user counts as shown at the first paint whose count includes it.");
        }
        if (r.DashboardMemory is { } d)
        {
            Line();
            Line(string.Create(c, $"Dashboard with {d.Users:N0} users of state: replayed in {d.ReplaySeconds:F1} s ({d.ReplayUsersPerSecond:N0} users/s); resident {d.IdleRssMegabytes:F0} MB with no users, peak {d.PeakRssMegabytes:F0} MB, {d.RssMegabytes:F0} MB after (managed heap {d.ManagedHeapMegabytes:F1} MB); {d.RssWithBrowsersMegabytes:F0} MB with {d.Browsers} event-stream clients following it."));
        }
        if (r.Sources.Count > 0)
        {
            Line();
            Line($"| source beside source | backfill into Kafka (users/s) | {string.Join(" | ", r.Rates.Select(x => $"PG -> Kafka at {x:G}/s p50/p95/p99/max (ms)"))} | how |");
            Line($"|---|---:|{string.Concat(r.Rates.Select(_ => "---|"))}---|");
            foreach (var s in r.Sources)
            {
                var cells = r.Rates.Select(x => BenchmarkRunner.Show(s.Latency.FirstOrDefault(l => l.RatePerSecond == x)?.PostgresToKafka));
                Line(string.Create(c, $"| {s.Mode} | {s.BackfillIntoKafkaUsersPerSecond:N0} | {string.Join(" | ", cells)} | {s.How} |"));
            }
        }
        if (r.TopicRecordSize is { } size)
        {
            Line();
            Line(string.Create(c, $"Topic {BenchmarkRunner.Topic}: {size.TotalBytes:F0} bytes per user as produced (key {size.KeyBytes:F0}, value {size.ValueBytes:F0} of which the schema {size.SchemaBytes:F0}, headers {size.HeaderBytes:F0}; mean of {size.Records:N0} records, before the producer's lz4); sent to the broker per record (produced again with the source's settings, librdkafka's tx_bytes): {size.WireBytesUncompressed:F0} bytes uncompressed, {size.WireBytesLz4:F0} with lz4."));
        }
        if (r.SchemaChange is { } change)
        {
            Line(string.Create(c, $"Schema change while streaming: `{change.Statement}` then an update setting it: in MySQL after {change.ToMySqlMilliseconds:F0} ms, in the lake after {(change.ToLakeMilliseconds is { } lake ? lake.ToString("F0", c) + " ms" : "(not seen)")} (the S3 sink's rotation included)."));
        }
        if (r.Variants.Count > 0)
        {
            Line();
            Line("| backfill variant (own storage each) | rows | into Kafka (rows/s) | into MySQL (rows/s) | into S3 (rows/s) | lake objects | lake bytes per user | CPU s (source / MySQL sink / S3 sink) |");
            Line("|---|---:|---:|---:|---:|---:|---:|---|");
            foreach (var v in r.Variants)
                Line(string.Create(c, $"| {v.Label} | {v.Rows:N0} | {v.IntoKafkaRowsPerSecond:N0} | {v.IntoMySqlRowsPerSecond:N0} | {v.IntoS3RowsPerSecond:N0} | {v.LakeObjects:N0} | {v.LakeBytesPerUser:F0} | {string.Join(" / ", v.Services.Select(m => m.CpuSeconds?.ToString("F1", c) ?? "-"))} |"));
            Line("Rows/s from the first record in Kafka until the store held every row (polled every ~100 ms), so the variants compare with each other; the backfill above measures first to last write instead.");
            foreach (var q in r.Variants.Where(v => v.LakeQuery is not null))
                Line(string.Create(c, $"Lake command over the {q.Label} lake (`eng/lake.sh` equivalent, a new process each time): `{q.LakeQuery!.Query}` {q.LakeQuery.FirstSeconds:F2} s the first time (fetching every object), {q.LakeQuery.CachedSeconds:F2} s cached."));
        }
        if (r.Memory.Count > 0)
        {
            Line();
            Line("| peak RSS (VmHWM) | MB | CPU s | during |");
            Line("|---|---:|---:|---|");
            foreach (var m in r.Memory)
                Line(string.Create(c, $"| {m.Service} | {(m.PeakRssMegabytes > 0 ? m.PeakRssMegabytes.ToString("F0", c) : "")} | {(m.CpuSeconds is { } cpu ? cpu.ToString("F1", c) : "")} | {m.When} |"));
        }
        if (r.Goals.Count > 0)
        {
            Line();
            Line("| goal | met | measured |");
            Line("|---|---|---|");
            foreach (var g in r.Goals)
                Line($"| {g.Goal} | {(g.Met is null ? "-" : g.Met.Value ? "yes" : "NO")} | {g.Measured}{(g.Note.Length > 0 ? " (" + g.Note + ")" : "")} |");
        }
        Line();
        if (r.Ok) Line("correctness: every user exactly once in Kafka, MySQL and S3 (ids and partition offsets checked)");
        else foreach (var f in r.Failures) Line("FAILURE: " + f);
        return sb.ToString();
    }
}
