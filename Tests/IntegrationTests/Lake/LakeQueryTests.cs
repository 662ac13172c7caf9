using System.Text;
using System.Text.Json.Nodes;
using KafkaPipeline.IntegrationTests.Cdc;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.IntegrationTests.Pipeline;
using KafkaPipeline.Lake;
using KafkaPipeline.Shared;
using KafkaPipeline.Tests;
using Npgsql;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineConvergence;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Lake;

/// <summary>
/// The Lake command over what the real pipeline stored (PostgreSQL -> SourceService -> P_USERS -> two S3 sinks, one per
/// format) under concurrent inserts, updates, deletes and rollbacks: its users view equals PostgreSQL's table, now and as
/// of a time in the middle (a copy of the table taken then), in both formats; a corrupt object is reported and skipped.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class LakeQueryTests(ITestOutputHelper output) : IDisposable
{
    private static readonly FieldProtector s_protector = TestProtection.Protector;
    private readonly string _cache = Directory.CreateTempSubdirectory("kp-lake-test-").FullName;

    [Fact]
    public async Task Users_in_both_formats_equal_postgres_now_and_as_of_a_time_in_the_middle_and_a_corrupt_object_is_skipped()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        await ChangeAudit.InstallAsync(h.Postgres); // the users table, before the writers start
        var json = h.Start(PipelineHarness.S3Sink, ("S3Sink:SummaryInterval", "00:00:05"));
        var parquet = h.StartInstance(PipelineHarness.S3Sink, "S3SinkService#parquet", ("S3Sink:SummaryInterval", "00:00:05"),
            ("S3Sink:Format", "parquet"), ("S3Sink:TopicsDir", "parquet"), ("S3Sink:GroupId", "s3-sink-parquet"));
        await json.WaitForOutputAsync($"Opened {PipelineHarness.Topic} partition", TimeSpan.FromSeconds(90));
        await parquet.WaitForOutputAsync($"Opened {PipelineHarness.Topic} partition", TimeSpan.FromSeconds(90));
        var source = h.Start(PipelineHarness.Source, ("Source:HeartbeatInterval", "00:00:01"));
        await source.WaitForOutputAsync("Streaming changes", Patience);

        h.StartGenerator(totalCount: 600, ratePerSecond: 100, maxBatchSize: 50, updateFraction: 0.3);
        await new ConcurrentWriters(h.Postgres, output, seed: 5).RunAsync(TimeSpan.FromSeconds(8));
        await h.WaitForGeneratorAsync(Patience);
        // Nothing writes now: the table and the server's clock between the two halves.
        var middle = await PostgresUsersAsync(h.Postgres);
        var middleTime = await PostgresNowAsync(h.Postgres);
        await new ConcurrentWriters(h.Postgres, output, seed: 6).RunAsync(TimeSpan.FromSeconds(8));

        await CdcConvergence.WaitForSourceAsync(h);
        await WaitForBucketAsync(h);
        var pg = await PostgresUsersAsync(h.Postgres);
        Assert.NotEqual(Expected(middle), Expected(pg)); // the second half changed the table: as-of is tested for real

        foreach (var dir in new[] { "topics", "parquet" })
        {
            // The parquet sink has its own group; it is done when its view equals the table (or the wait gives up).
            Dictionary<long, string> now = [];
            await WaitUntilAsync($"the lake under {dir}/ to equal PostgreSQL", async () => (now = (await UsersAsync(h, dir)).Rows).Count == pg.Count,
                Patience, () => Task.FromResult($"{now.Count} users in the lake, {pg.Count} in PostgreSQL"), TimeSpan.FromSeconds(2));
            AssertSame(Expected(pg), (await UsersAsync(h, dir)).Rows, $"{dir}: now");
            AssertSame(Expected(middle), (await UsersAsync(h, dir, "--as-of", middleTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture))).Rows, $"{dir}: as of the middle");
        }

        // A corrupt object under the topics folder (the sinks are done): reported by name, the rest still read.
        const string Corrupt = "topics/P_USERS/partition=0/P_USERS+0+9000000000.json";
        var put = S3Extensions.PlainPut(h.Bucket, Corrupt, Encoding.UTF8.GetBytes("{\"id\": 1, not json\n"), "application/x-ndjson");
        put.Metadata.Add("end-offset", "9000000001");
        await h.S3.PutObjectAsync(put);
        var (rows, messages) = await UsersAsync(h, "topics");
        Assert.Contains($"skipped {Corrupt}: not readable as JSON lines", messages, StringComparison.Ordinal);
        AssertSame(Expected(pg), rows, "topics: with a corrupt object");
    }

    /// <summary>users through the Lake command (JSON lines output), per id its row in canonical form.</summary>
    private async Task<(Dictionary<long, string> Rows, string Messages)> UsersAsync(PipelineHarness h, string topicsDir, params string[] extra)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await LakeCommand.RunAsync(
            ["sql", "SELECT * FROM users ORDER BY id", "--format", "json", "--topics-dir", topicsDir, "--cache-dir", _cache,
             $"--ConnectionStrings:s3=Endpoint={TestServers.S3Url};Bucket={h.Bucket};AccessKey={TestServers.S3AccessKey};SecretKey={TestServers.S3SecretKey}", .. extra],
            stdout, stderr);
        Assert.True(code == 0, $"Lake exited with {code}: {stderr}");
        var rows = new Dictionary<long, string>();
        foreach (var line in stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var row = JsonNode.Parse(line)!.AsObject();
            rows.Add((long)row["id"]!, Canonical(row));
        }
        return (rows, stderr.ToString());
    }

    private static Dictionary<long, string> Expected(Dictionary<long, UserRecord> users) =>
        users.Values.ToDictionary(u => u.Id, u => Canonical(ExpectedLakeLines.UserFields(u, s_protector)));

    /// <summary>Every column in order; a timestamp's "Z" left out (a JSON-lines lake reads it as UTC without the zone).</summary>
    private static string Canonical(JsonObject row) =>
        string.Join(", ", row.Select(m => $"{m.Key}={(m.Value?.ToJsonString() ?? "null").Replace("Z\"", "\"", StringComparison.Ordinal)}"));

    private static void AssertSame(Dictionary<long, string> expected, Dictionary<long, string> actual, string what)
    {
        var missing = expected.Keys.Where(id => !actual.ContainsKey(id)).Take(5).ToList();
        var extra = actual.Keys.Where(id => !expected.ContainsKey(id)).Take(5).ToList();
        var different = expected.Where(e => actual.TryGetValue(e.Key, out var a) && a != e.Value).Take(3)
            .Select(e => $"\n  expected {e.Value}\n  lake     {actual[e.Key]}").ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0 && different.Count == 0,
            $"{what}: {expected.Count} users expected, {actual.Count} in the lake; missing {string.Join(", ", missing)}; extra {string.Join(", ", extra)}; different:{string.Concat(different)}");
    }

    private static async Task<DateTimeOffset> PostgresNowAsync(string connectionString)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT clock_timestamp()", conn);
        return new DateTimeOffset(DateTime.SpecifyKind((DateTime)(await cmd.ExecuteScalarAsync())!, DateTimeKind.Utc));
    }

    public void Dispose() => Directory.Delete(_cache, recursive: true);
}
