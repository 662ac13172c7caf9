using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace KafkaPipeline.IntegrationTests.MySqlSink;

/// <summary>MySqlSinkService in-process against the embedded Kafka and the test MariaDB (own database per test).</summary>
public class MySqlSinkTests(ITestOutputHelper output)
{
    private const int N = 2000;

    private static List<UserRecord> Users(int count, long firstId = 1, int version = 0) =>
        Enumerable.Range(0, count).Select(i => MySqlSinkTestKit.User(firstId + i, version)).ToList();

    private static void AssertTableEquals(IEnumerable<UserRecord> expected, IEnumerable<StoredUser> actual)
    {
        var want = expected.OrderBy(u => u.Id).ToList();
        var got = actual.Select(r => r.User).ToList();
        Assert.Equal(want.Count, got.Count);
        for (var i = 0; i < want.Count; i++)
        {
            // Record equality: every field, timestamps to the microsecond.
            Assert.Equal(want[i], got[i]);
        }
    }

    [Fact]
    public async Task Writes_every_record_field_by_field_and_a_replay_leaves_the_table_unchanged()
    {
        await using var kit = await MySqlSinkTestKit.CreateAsync();
        var users = Users(N);
        kit.ProduceUsers(users);
        var app = await kit.StartSinkAsync();

        await kit.WaitForRowsAsync(N);
        await kit.WaitForCommittedToEndAsync();
        var first = kit.ReadTable();
        AssertTableEquals(users, first);
        Assert.All(first, r => Assert.InRange(r.SyncedAt, r.User.UpdatedAt, DateTime.UtcNow.AddMinutes(1)));
        // Consumer lag (measured from cached watermarks at each summary) reaches 0 once everything is committed.
        await WaitUntilAsync(() => MySqlSinkTestKit.Progress(app).Lag == 0, kit);

        // Replay: the same records again (new offsets). Upsert by primary key: nothing changes, synced_at included.
        var writtenBefore = MySqlSinkTestKit.Progress(app).Written;
        kit.ProduceUsers(users);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(writtenBefore + N, MySqlSinkTestKit.Progress(app).Written); // they were written again...
        Assert.Equal(first, kit.ReadTable());                                      // ...and left the table as it was
        Assert.Equal(0, MySqlSinkTestKit.Progress(app).DeadLettered);
    }

    [Fact]
    public async Task A_newer_version_replaces_the_row_and_two_versions_in_one_batch_keep_the_last()
    {
        await using var kit = await MySqlSinkTestKit.CreateAsync();
        // Versions 0, 1, 2 of ids 1..300 back to back: they land in the same batch (one linger window).
        var all = Users(300).Concat(Users(300, version: 1)).Concat(Users(300, version: 2)).ToList();
        kit.ProduceUsers(all);
        await kit.StartSinkAsync(new Dictionary<string, string> { ["BatchLinger"] = "00:00:01" });
        await kit.WaitForCommittedToEndAsync();
        AssertTableEquals(Users(300, version: 2), kit.ReadTable());
    }

    [Fact]
    public async Task Malformed_and_unwritable_records_go_to_the_dead_letter_topic_with_their_error_and_the_rest_flows()
    {
        await using var kit = await MySqlSinkTestKit.CreateAsync();
        var good = Users(900);
        var tooLong = MySqlSinkTestKit.User(5000) with { Name = new string('x', 300) }; // VARCHAR(255), strict mode
        var zeroId = Encoding.UTF8.GetString(UserRecordJson.Serialize(MySqlSinkTestKit.User(5001)))
            .Replace("\"id\":5001", "\"id\":0", StringComparison.Ordinal);
        Assert.Contains("\"id\":0", zeroId);
        var messages = new List<(long, byte[])>();
        messages.AddRange(good.Take(300).Select(u => (u.Id, UserRecordJson.Serialize(u))));
        messages.Add((4000, Encoding.UTF8.GetBytes("{\"id\": 4000, \"name\": ")));   // invalid JSON
        messages.AddRange(good.Skip(300).Take(300).Select(u => (u.Id, UserRecordJson.Serialize(u))));
        messages.Add((5001, Encoding.UTF8.GetBytes(zeroId)));                         // id = 0
        messages.Add((5000, UserRecordJson.Serialize(tooLong)));                       // valid JSON, MySQL refuses it
        messages.AddRange(good.Skip(600).Select(u => (u.Id, UserRecordJson.Serialize(u))));
        var reports = kit.Produce(messages);

        var app = await kit.StartSinkAsync();
        await kit.WaitForCommittedToEndAsync();
        AssertTableEquals(good, kit.ReadTable());

        var dead = kit.ReadDeadLetters(3);
        Assert.Equal(3, dead.Count);
        var byKey = dead.ToDictionary(d => Encoding.UTF8.GetString(d.Message.Key!));
        Assert.Equal(["4000", "5000", "5001"], byKey.Keys.Order());
        foreach (var (key, d) in byKey)
        {
            var original = reports.Single(r => Encoding.UTF8.GetString(r.Message.Key!) == key);
            Assert.Equal(original.Message.Value, d.Message.Value); // the record itself, unchanged
            Assert.Equal(MySqlSinkTestKit.Topic, Header(d, PipelineHeaders.DlqTopic));
            Assert.Equal(original.Partition.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), Header(d, PipelineHeaders.DlqPartition));
            Assert.Equal(original.Offset.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), Header(d, PipelineHeaders.DlqOffset));
        }
        Assert.Contains("not a valid user JSON document", Header(byKey["4000"], PipelineHeaders.DlqError));
        Assert.Equal("deserialize", Header(byKey["4000"], PipelineHeaders.DlqStage));
        Assert.Equal("InvalidRecordException", Header(byKey["4000"], PipelineHeaders.DlqErrorType));
        Assert.Contains("field 'id' must be a positive integer, got 0", Header(byKey["5001"], PipelineHeaders.DlqError));
        Assert.Contains("Data too long for column 'name'", Header(byKey["5000"], PipelineHeaders.DlqError));
        Assert.Equal("mysql-write", Header(byKey["5000"], PipelineHeaders.DlqStage));
        Assert.Equal("MySqlException", Header(byKey["5000"], PipelineHeaders.DlqErrorType));

        Assert.Equal(3, MySqlSinkTestKit.Progress(app).DeadLettered);
        Assert.True(kit.Logs.Contains(LogLevel.Warning, $"Dead-lettering {MySqlSinkTestKit.Topic}/"), kit.Logs.Text);
        Assert.True(kit.Logs.Contains(LogLevel.Warning, "Data too long"), kit.Logs.Text);
    }

    private static string Header(ConsumeResult<byte[]?, byte[]?> r, string key) =>
        PipelineHeaders.GetString(r.Message.Headers, key) ?? throw new Xunit.Sdk.XunitException($"header {key} missing");

    [Fact]
    public async Task Waits_for_MySQL_at_start_and_rides_out_an_outage_losing_nothing()
    {
        await using var kit = await MySqlSinkTestKit.CreateAsync();
        await using var proxy = TcpProxy.ForMySql(kit.MySql);
        var viaProxy = proxy.Rewrite(kit.MySql);

        // MySQL unreachable at start: the service starts, serves /health (unhealthy) and says what it waits for.
        var app = await kit.StartSinkAsync(new Dictionary<string, string> { ["RetryBackoffMax"] = "00:00:01" }, viaProxy);
        using var http = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };
        await WaitUntilAsync(() => kit.Logs.Contains(LogLevel.Warning, "Waiting for MySQL at 127.0.0.1:" + proxy.Port), kit);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health")).StatusCode);
        proxy.Start();
        kit.ProduceUsers(Users(1000));
        await kit.WaitForRowsAsync(1000);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
        var committedBefore = kit.Committed();

        // Outage: open connections cut, new ones refused, while more records arrive.
        proxy.Stop();
        kit.ProduceUsers(Users(1000, firstId: 1001));
        await WaitUntilAsync(() => kit.Logs.Lines.Count(l => l.Level == LogLevel.Warning && l.Message.StartsWith("Waiting for MySQL: writing", StringComparison.Ordinal)) >= 3, kit);
        Assert.Equal(1000, kit.CountRows());
        Assert.Equal(committedBefore, kit.Committed()); // nothing committed past what is in MySQL
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health")).StatusCode);

        proxy.Start();
        await kit.WaitForRowsAsync(2000);
        await kit.WaitForCommittedToEndAsync();
        AssertTableEquals(Users(2000), kit.ReadTable());
        Assert.True(kit.Logs.Contains(LogLevel.Information, "MySQL is back"), kit.Logs.Text);
        output.WriteLine(string.Join('\n', kit.Logs.Lines.Where(l => l.Level >= LogLevel.Warning).Take(6).Select(l => l.Message)));
    }

    [Fact]
    public async Task During_an_outage_consumes_at_most_the_next_batch_beside_the_one_being_retried()
    {
        const int batch = 50;
        await using var kit = await MySqlSinkTestKit.CreateAsync();
        await using var proxy = TcpProxy.ForMySql(kit.MySql);
        proxy.Start();
        var app = await kit.StartSinkAsync(new Dictionary<string, string>
        {
            // A long linger: every batch is full, so the bound below is exact.
            ["BatchSize"] = batch.ToString(), ["BatchLinger"] = "00:00:10", ["RetryBackoffMax"] = "00:00:00.500",
        }, proxy.Rewrite(kit.MySql));
        var progress = MySqlSinkTestKit.Progress(app);
        kit.ProduceUsers(Users(200));
        await kit.WaitForRowsAsync(200);
        await kit.WaitForCommittedToEndAsync();
        var committedBefore = kit.Committed();

        // MySQL down while 1000 records wait in Kafka: one batch retries, the next one is consumed, then nothing more.
        proxy.Stop();
        kit.ProduceUsers(Users(1000, firstId: 201));
        await WaitUntilAsync(() => kit.Logs.Lines.Count(l => l.Level == LogLevel.Warning && l.Message.StartsWith("Waiting for MySQL: writing", StringComparison.Ordinal)) >= 6, kit);
        Assert.InRange(progress.Consumed, 200 + batch + 1, 200 + 2 * batch);
        Assert.Equal(committedBefore, kit.Committed());

        proxy.Start();
        await kit.WaitForRowsAsync(1200);
        await kit.WaitForCommittedToEndAsync();
        AssertTableEquals(Users(1200), kit.ReadTable());
    }

    [Fact]
    public async Task Insert_mode_sends_replayed_ids_to_the_dead_letter_topic_and_leaves_the_table_unchanged()
    {
        await using var kit = await MySqlSinkTestKit.CreateAsync();
        var users = Users(300);
        kit.ProduceUsers(users);
        var app = await kit.StartSinkAsync(new Dictionary<string, string> { ["InsertMode"] = "Insert" });
        await kit.WaitForCommittedToEndAsync();
        var first = kit.ReadTable();
        AssertTableEquals(users, first);

        kit.ProduceUsers(users);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(first, kit.ReadTable());
        var dead = kit.ReadDeadLetters(300);
        Assert.Equal(300, dead.Count);
        Assert.All(dead, d => Assert.Contains("Duplicate entry", PipelineHeaders.GetString(d.Message.Headers, PipelineHeaders.DlqError)));
        Assert.Equal(300, MySqlSinkTestKit.Progress(app).DeadLettered);
    }

    [Fact]
    public async Task Each_traced_record_gets_a_mysql_write_span_in_its_own_trace()
    {
        var spans = new System.Collections.Concurrent.ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == PipelineTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { if (a.OperationName == "mysql write") spans.Add(a); },
        };
        ActivitySource.AddActivityListener(listener);

        await using var kit = await MySqlSinkTestKit.CreateAsync();
        var parents = Enumerable.Range(1, 50).ToDictionary(i => (long)i, _ => ActivityContext.Parse(
            $"00-{ActivityTraceId.CreateRandom()}-{ActivitySpanId.CreateRandom()}-01", null));
        kit.Produce(Users(50).Select(u => (u.Id, UserRecordJson.Serialize(u))), id =>
        {
            var headers = new Headers();
            PipelineTelemetry.Inject($"00-{parents[id].TraceId}-{parents[id].SpanId}-01", headers);
            return headers;
        });
        await kit.StartSinkAsync();
        await kit.WaitForCommittedToEndAsync();

        var traceIds = parents.Values.Select(p => p.TraceId).ToHashSet();
        await WaitUntilAsync(() => spans.Count(s => traceIds.Contains(s.TraceId)) >= 50, kit);
        var mine = spans.Where(s => traceIds.Contains(s.TraceId)).ToList();
        Assert.Equal(50, mine.Count);
        foreach (var span in mine)
        {
            var id = (long)span.GetTagItem("user.id")!;
            Assert.Equal(parents[id].TraceId, span.TraceId);
            Assert.Equal(parents[id].SpanId, span.ParentSpanId);
            Assert.Equal(ActivityKind.Client, span.Kind);
            Assert.Equal("users", span.GetTagItem("db.collection.name"));
            Assert.True(span.Duration > TimeSpan.Zero);
        }
    }

    [Fact]
    public async Task A_second_instance_joining_the_group_mid_flow_loses_and_doubles_nothing()
    {
        await using var kit = await MySqlSinkTestKit.CreateAsync();
        var first = await kit.StartSinkAsync(new Dictionary<string, string> { ["BatchSize"] = "200" });
        kit.ProduceUsers(Users(3000));
        await WaitUntilAsync(() => kit.CountRows() > 0, kit); // the first instance is consuming

        // The rebalance revokes partitions from the first instance while it holds uncommitted records.
        var second = await kit.StartSinkAsync(new Dictionary<string, string> { ["BatchSize"] = "200" });
        kit.ProduceUsers(Users(3000, firstId: 3001));
        await kit.WaitForRowsAsync(6000);
        await kit.WaitForCommittedToEndAsync();
        AssertTableEquals(Users(6000), kit.ReadTable());
        Assert.True(kit.Logs.Contains(LogLevel.Information, "Revoked partitions"), kit.Logs.Text);
        Assert.True(MySqlSinkTestKit.Progress(second).Written > 0, "the second instance got no partitions");
        Assert.True(MySqlSinkTestKit.Progress(first).Written + MySqlSinkTestKit.Progress(second).Written >= 6000);
    }

    [Fact]
    public async Task Backlog_throughput_is_reported()
    {
        // Not a speed assertion: correctness of a larger backlog, with the measured rate printed.
        const int count = 50_000;
        await using var kit = await MySqlSinkTestKit.CreateAsync();
        kit.ProduceUsers(Users(count));
        var app = await kit.StartSinkAsync();
        var progress = MySqlSinkTestKit.Progress(app);
        var deadline = DateTime.UtcNow + MySqlSinkTestKit.Patience;
        while (progress.Written == 0 && DateTime.UtcNow < deadline) await Task.Delay(5);
        var watch = Stopwatch.StartNew();
        var firstBatch = progress.Written;
        while (progress.Written < count && DateTime.UtcNow < deadline) await Task.Delay(5);
        watch.Stop();
        await kit.WaitForRowsAsync(count);
        var rate = (count - firstBatch) / watch.Elapsed.TotalSeconds;
        output.WriteLine($"MySQL sink: {count} rows, {count - firstBatch} after the first batch in {watch.Elapsed.TotalSeconds:0.00} s = {rate:0} rows/s ({progress.Commits} commits, {progress.WriteTime.TotalSeconds:0.00} s in MySQL writes)");
        Console.WriteLine($"MySQL sink throughput: {rate:0} rows/s, {progress.WriteTime.TotalSeconds:0.00} s in MySQL writes, {progress.Commits} commits");
        await kit.WaitForCommittedToEndAsync();
    }

    private static async Task WaitUntilAsync(Func<bool> condition, MySqlSinkTestKit kit)
    {
        var deadline = DateTime.UtcNow + MySqlSinkTestKit.Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("condition not met in time\n" + kit.Logs.Text);
            await Task.Delay(100);
        }
    }
}
