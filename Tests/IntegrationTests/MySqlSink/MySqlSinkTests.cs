using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.IntegrationTests.Sinks;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Sinks;
using KafkaPipeline.Tests;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.MySqlSink.MySqlSinkTestKit;

namespace KafkaPipeline.IntegrationTests.MySqlSink;

/// <summary>MySqlSinkService in-process against the embedded Kafka and the test MariaDB (own database per test).</summary>
public class MySqlSinkTests(ITestOutputHelper output)
{
    private const int N = 2000;

    /// <summary>Bulk copy for every batch, or never: both staging paths must give the same table.</summary>
    public static TheoryData<string> Paths => new() { "1", "1000000" };

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Writes_every_record_field_by_field_and_a_replay_leaves_the_table_unchanged(string bulkThreshold)
    {
        await using var kit = await CreateAsync();
        var users = Users(N);
        kit.ProduceUsers(users);
        var app = await kit.StartSinkAsync(new Dictionary<string, string> { ["BulkCopyThreshold"] = bulkThreshold });

        await kit.WaitForRowsAsync(N);
        await kit.WaitForCommittedToEndAsync();
        var first = kit.ReadTable();
        AssertTableEquals(users, first);
        Assert.All(first, r => Assert.InRange(r.SyncedAt, r.User.UpdatedAt, DateTime.UtcNow.AddMinutes(1)));
        await kit.Kafka.WaitUntilAsync(() => Progress(app).Lag == 0, "lag 0");

        // Replay: the same records again (new offsets). Not newer than what is stored: nothing changes, synced_at included.
        kit.ProduceUsers(users);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(first, kit.ReadTable());
        Assert.Equal(0, Progress(app).DeadLettered);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Emoji_and_four_byte_characters_in_every_text_column_come_back_byte_for_byte(string bulkThreshold)
    {
        await using var kit = await CreateAsync();
        string Text(long id, string column) => $"{column} {id} 😀🚀 𠜎𝄞 Zoë Ñ 東京 \U0001F9EA\t' \" \\ ` \n end";
        var users = Users(1500).Select(u => u with
        {
            Name = Text(u.Id, "name"), Username = Text(u.Id, "user"), Sex = "⚧️ 🏳️‍🌈", Address = Text(u.Id, "address"), Mail = Text(u.Id, "mail"),
            Job = Text(u.Id, "job"), Company = Text(u.Id, "company"), Ssn = Text(u.Id, "ssn"), Residence = Text(u.Id, "residence"),
        }).ToList();
        kit.ProduceUsers(users);
        await kit.StartSinkAsync(new Dictionary<string, string> { ["BulkCopyThreshold"] = bulkThreshold });
        await kit.WaitForCommittedToEndAsync();
        AssertTableEquals(users, kit.ReadTable());
        Assert.Equal(Encoding.UTF8.GetBytes(users[0].Address), Encoding.UTF8.GetBytes(kit.ReadTable()[0].User.Address));
    }

    [Fact]
    public async Task The_newest_version_of_a_batch_wins_and_an_older_version_never_overwrites_a_newer_one()
    {
        await using var kit = await CreateAsync();
        // Versions 1 and 2 of ids 1..300 back to back, then version 0 (the oldest) as a replay, last in the topic.
        kit.ProduceUsers(Users(300, version: 1).Concat(Users(300, version: 2)));
        await kit.StartSinkAsync();
        await kit.WaitForCommittedToEndAsync();
        AssertTableEquals(Users(300, version: 2), kit.ReadTable());
        var before = kit.ReadTable();

        kit.ProduceUsers(Users(300, version: 0));
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(before, kit.ReadTable()); // nothing moved, not even synced_at

        // With change headers the LSN decides, whatever updated_at says: the record of the lower LSN loses.
        var t = DateTime.UtcNow;
        kit.ProduceUsers([User(1, version: 9)], _ => SinkTestKit.Change(ChangeOp.Update, 2000, 5, t));
        kit.ProduceUsers([User(1, version: 50)], _ => SinkTestKit.Change(ChangeOp.Update, 1000, 5, t));
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(User(1, version: 9), kit.ReadTable()[0].User);
    }

    [Fact]
    public async Task A_stalled_writer_that_commits_an_older_version_after_a_newer_one_changes_nothing()
    {
        // What a sink instance frozen longer than the session timeout does when it wakes up: it commits the batch it
        // held after the partition's new owner committed newer versions (the same ids) and deletes. Two tasks, the
        // sink's own code, against one database.
        var mySql = await TestServers.CreateMySqlDatabaseAsync("stall");
        var owner = await TaskAsync(mySql, bulkThreshold: 1000);
        var stalled = await TaskAsync(mySql, bulkThreshold: 1);
        long offset = 0;
        SinkRecord Upsert(long id, int version, ulong lsn) => TestRecords.Create(Message(id, offset++), id, User(id, version), new SourceVersion(lsn, 1), User(id, version).UpdatedAt);
        SinkRecord Delete(long id, ulong lsn) => TestRecords.Create(Message(id, offset++), id, null, new SourceVersion(lsn, 1), DateTime.UtcNow);

        // The new owner: version 2 of ids 1..2000 at LSN 2000, then deletes of ids 1..100 at LSN 3000.
        Assert.Empty(await owner.PutAsync([.. Enumerable.Range(1, 2000).Select(i => Upsert(i, 2, 2000))], default));
        Assert.Empty(await owner.PutAsync([.. Enumerable.Range(1, 100).Select(i => Delete(i, 3000))], default));
        var expected = Enumerable.Range(101, 1900).Select(i => User(i, 2)).ToList();

        // The stalled one wakes and writes version 1 at LSN 1000 of the same ids, by bulk copy, then deletes at LSN 500.
        Assert.Empty(await stalled.PutAsync([.. Enumerable.Range(1, 2000).Select(i => Upsert(i, 1, 1000))], default));
        Assert.Empty(await stalled.PutAsync([.. Enumerable.Range(101, 10).Select(i => Delete(i, 500))], default));
        var rows = await Pipeline.PipelineData.MySqlUsersAsync(mySql);
        Assert.Equal(expected.Select(u => u.Id), rows.Keys.Order());
        Assert.All(expected, u => Assert.Equal(u, rows[u.Id]));

        // Two writers at once on the same ids, old and new interleaved: every row ends at its newest version. A deadlock
        // between them is retried, as the sink's runtime does.
        static async Task Write(MySqlSinkService.MySqlSinkTask task, IReadOnlyList<SinkRecord> records)
        {
            while (true)
            {
                try
                {
                    Assert.Empty(await task.PutAsync(records, default));
                    return;
                }
                catch (MySqlConnector.MySqlException e) when (e.Number is 1213 or 1205)
                {
                }
            }
        }
        var writers = new[] { await TaskAsync(mySql, 1), await TaskAsync(mySql, 1_000_000) };
        await Task.WhenAll(Enumerable.Range(0, 2).Select(w => Task.Run(async () =>
        {
            for (var round = 0; round < 20; round++)
            {
                var version = w == 0 ? 10 + round : 30 - round; // one climbs, the other falls
                List<SinkRecord> batch;
                lock (writers) batch = [.. Enumerable.Range(101, 300).Select(i => Upsert(i, version, (ulong)(4000 + version)))];
                await Write(writers[w], batch);
            }
        })));
        rows = await Pipeline.PipelineData.MySqlUsersAsync(mySql);
        Assert.All(Enumerable.Range(101, 300), i => Assert.Equal(User(i, 30), rows[i]));
    }

    /// <summary>A MySQL sink task (the service's own class) on <paramref name="mySql"/>, outside a runtime.</summary>
    internal static async Task<MySqlSinkService.MySqlSinkTask> TaskAsync(string mySql, int bulkThreshold, string exclude = "")
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:emaildb"] = mySql }).Build();
        var options = new MySqlSinkService.MySqlSinkOptions { BulkCopyThreshold = bulkThreshold, StatementRows = 100, ExcludeColumns = exclude };
        var task = new MySqlSinkService.MySqlSinkTask(Microsoft.Extensions.Options.Options.Create(options), configuration, new PipelineHealth(),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<MySqlSinkService.MySqlSinkTask>.Instance);
        await task.StartAsync(new NoStops(), default);
        return task;
    }

    private sealed class NoStops : ISinkContext
    {
        public void ConfirmOwnership(TopicPartition partition, long offset) { }
        public void StopPartitions(IReadOnlyDictionary<TopicPartition, long> firstUnstored) => Assert.Fail("the table stopped");
    }

    private static ConsumeResult<byte[]?, byte[]?> Message(long id, long offset) => new()
    {
        TopicPartitionOffset = new TopicPartitionOffset(SinkTestKit.Topic, 0, offset),
        Message = new Message<byte[]?, byte[]?> { Key = SinkTestKit.Key(id) },
    };

    [Fact]
    public async Task A_tombstone_deletes_in_order_with_the_upserts_of_its_batch_and_an_older_record_never_brings_the_row_back()
    {
        await using var kit = await CreateAsync();
        var t = DateTime.UtcNow;
        var messages = new List<(byte[] Key, byte[]? Value, Headers? Headers)>();
        foreach (var id in Enumerable.Range(1, 50))
        {
            // created (LSN 100), updated (LSN 200), deleted (LSN 300), all in one batch; ids 41..50 are created again (LSN 400)
            messages.Add((SinkTestKit.Key(id), UsersEvents.Value(User(id, 1)), SinkTestKit.Change(ChangeOp.Create, 100, (ulong)id, t)));
            messages.Add((SinkTestKit.Key(id), UsersEvents.Value(User(id, 2)), SinkTestKit.Change(ChangeOp.Update, 200, (ulong)id, t)));
            messages.Add((SinkTestKit.Key(id), null, SinkTestKit.Change(ChangeOp.Delete, 300, (ulong)id, t)));
            if (id > 40) messages.Add((SinkTestKit.Key(id), UsersEvents.Value(User(id, 4)), SinkTestKit.Change(ChangeOp.Create, 400, (ulong)id, t)));
        }
        messages.AddRange(Users(50, firstId: 51).Select(u => (SinkTestKit.Key(u.Id), (byte[]?)UsersEvents.Value(u), (Headers?)SinkTestKit.Change(ChangeOp.Create, 100, (ulong)u.Id, t))));
        kit.Kafka.Produce(messages);
        var app = await kit.StartSinkAsync();
        await kit.WaitForCommittedToEndAsync();
        AssertTableEquals(Users(10, 41, version: 4).Concat(Users(50, firstId: 51)), kit.ReadTable());
        // Deletes are remembered, unless a newer version of the same id followed in the same batch.
        Assert.InRange(kit.Scalar("SELECT COUNT(*) FROM users_deleted"), 40, 50);

        // A replay of the old versions (LSN 200): deleted rows stay deleted, re-created ones keep their newer version.
        kit.Kafka.Produce(Enumerable.Range(1, 50).Select(id =>
            (SinkTestKit.Key(id), (byte[]?)UsersEvents.Value(User(id, 2)), (Headers?)SinkTestKit.Change(ChangeOp.Update, 200, (ulong)id, t))));
        await kit.WaitForCommittedToEndAsync();
        AssertTableEquals(Users(10, 41, version: 4).Concat(Users(50, firstId: 51)), kit.ReadTable());

        // A newer version (LSN 500) of a deleted id is a new row.
        kit.ProduceUsers([User(1, 5)], _ => SinkTestKit.Change(ChangeOp.Create, 500, 1, t));
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(User(1, 5), kit.ReadTable()[0].User);
        Assert.Equal(0, Progress(app).DeadLettered); // a tombstone is never dead-lettered
        Assert.Empty(kit.Kafka.ReadDeadLetters(0));
    }

    [Fact]
    public async Task By_default_the_e_mail_database_gets_no_social_security_number()
    {
        await using var kit = await CreateAsync();
        kit.ProduceUsers(Users(100));
        await kit.StartSinkAsync(new Dictionary<string, string> { ["ExcludeColumns"] = new MySqlSinkService.MySqlSinkOptions().ExcludeColumns });
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(100, kit.CountRows());
        Assert.Equal(0, kit.Scalar("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = 'ssn'"));
        Assert.Equal(100, kit.Scalar($"SELECT COUNT(*) FROM users WHERE mail LIKE 'user%@example.com' AND name LIKE 'Zoë%' AND address LIKE '% Rue de l''Église%'"));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Malformed_and_unwritable_records_go_to_the_dead_letter_topic_protected_and_the_rest_flows(string bulkThreshold)
    {
        await using var kit = await CreateAsync();
        var good = Users(900);
        var reports = kit.Kafka.Produce(good.Take(300).Select(u => (u.Id, (byte[]?)UsersEvents.Value(u))));
        var app = await kit.StartSinkAsync(new Dictionary<string, string> { ["BulkCopyThreshold"] = bulkThreshold });
        await kit.WaitForCommittedToEndAsync();
        // A rule someone added to the e-mail database: MySQL refuses a row for its data, not for the sink's mapping.
        kit.Scalar("ALTER TABLE users ADD CONSTRAINT name_short CHECK (CHAR_LENGTH(name) < 200)");

        var tooLong = User(5000) with { Name = new string('x', 300) };
        var zeroId = Encoding.UTF8.GetString(UsersEvents.Value(User(5001))).Replace("\"id\":5001", "\"id\":0", StringComparison.Ordinal);
        Assert.Contains("\"id\":0", zeroId);
        var farFuture = UsersEvents.Values(User(5002));
        farFuture[UsersEvents.Schema.IndexOf("birthdate")] = 3_000_000; // year 10183: PostgreSQL has it, MySQL's DATE does not
        var messages = new List<(long, byte[]?)>();
        messages.Add((4000, Encoding.UTF8.GetBytes("{\"id\": 4000, \"ssn\": \"999-99-9999\", \"name\": "))); // not an event
        messages.AddRange(good.Skip(300).Take(300).Select(u => (u.Id, (byte[]?)UsersEvents.Value(u))));
        messages.Add((5001, Encoding.UTF8.GetBytes(zeroId)));                                         // the key is not the value's
        messages.Add((5000, UsersEvents.Value(tooLong)));                                             // MySQL refuses it
        messages.Add((5002, ChangeEventWriter.ValueOf(UsersEvents.Schema, farFuture)));                // MySQL cannot hold it
        messages.AddRange(good.Skip(600).Select(u => (u.Id, (byte[]?)UsersEvents.Value(u))));
        reports.AddRange(kit.Kafka.Produce(messages));
        await kit.WaitForCommittedToEndAsync();
        AssertTableEquals(good, kit.ReadTable());

        var dead = kit.Kafka.ReadDeadLetters(4);
        Assert.Equal(4, dead.Count);
        var byKey = SinkTestKit.DeadLettersByKey(dead, reports, "mysql-sink");
        Assert.Equal(["4000", "5000", "5001", "5002"], byKey.Keys.Order());
        var protector = KafkaPipeline.Tests.TestProtection.Protector;
        foreach (var (key, d) in byKey)
        {
            var original = reports.Single(r => Encoding.UTF8.GetString(r.Message.Key!) == key);
            // The record itself, its private fields hashed (or sealed when it is not JSON): no clear ssn in the DLQ.
            Assert.Equal(original.Message.Value, key == "4000" ? protector.Unseal(d.Message.Value) : original.Message.Value);
            if (key != "4000") Assert.Equal(protector.Protect(original.Message.Value!), d.Message.Value);
            Assert.DoesNotContain(key == "4000" ? "999-99" : User(long.Parse(key, System.Globalization.CultureInfo.InvariantCulture)).Ssn,
                Encoding.UTF8.GetString(d.Message.Value!), StringComparison.Ordinal);
        }
        Assert.Contains("schema and payload", SinkTestKit.Header(byKey["4000"], PipelineHeaders.DlqError));
        Assert.Equal("deserialize", SinkTestKit.Header(byKey["4000"], PipelineHeaders.DlqStage));
        Assert.Equal("sealed", SinkTestKit.Header(byKey["4000"], PipelineHeaders.DlqValueForm));
        Assert.Equal("InvalidRecordException", SinkTestKit.Header(byKey["4000"], PipelineHeaders.DlqErrorType));
        Assert.Equal("the key does not match the key fields of the value", SinkTestKit.Header(byKey["5001"], PipelineHeaders.DlqError));
        Assert.Equal("MySQL error 4025 (ER_CONSTRAINT_FAILED): a CHECK constraint refuses the row", SinkTestKit.Header(byKey["5000"], PipelineHeaders.DlqError));
        Assert.Equal("mysql-write", SinkTestKit.Header(byKey["5000"], PipelineHeaders.DlqStage));
        Assert.Equal("fields-protected", SinkTestKit.Header(byKey["5000"], PipelineHeaders.DlqValueForm));
        Assert.Equal("MySqlDataException", SinkTestKit.Header(byKey["5000"], PipelineHeaders.DlqErrorType));
        Assert.Equal("field 'birthdate' (DATE) is outside the range of dates and times the sink can write", SinkTestKit.Header(byKey["5002"], PipelineHeaders.DlqError));
        Assert.Equal("mysql-write", SinkTestKit.Header(byKey["5002"], PipelineHeaders.DlqStage));

        Assert.Equal(4, Progress(app).DeadLettered);
        Assert.True(kit.Logs.Contains(LogLevel.Warning, $"Dead-lettering {SinkTestKit.Topic}/"), kit.Logs.Text);
        Assert.True(kit.Logs.Contains(LogLevel.Warning, "ER_CONSTRAINT_FAILED"), kit.Logs.Text);
        Assert.DoesNotContain("xxxxxxxxxx", kit.Logs.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Waits_for_MySQL_at_start_and_rides_out_an_outage_losing_nothing()
    {
        await using var kit = await CreateAsync();
        using var proxy = TcpToggleProxy.ForMySql(kit.MySql);
        proxy.Down();

        // MySQL unreachable at start: the service starts, serves /health (unhealthy) and says what it waits for.
        var app = await kit.StartSinkAsync(mySql: proxy.Rewrite(kit.MySql));
        using var http = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };
        await kit.Kafka.WaitUntilAsync(() => kit.Logs.Contains(LogLevel.Warning, "Waiting for MySQL at 127.0.0.1:" + proxy.Port), "the wait to be logged");
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health")).StatusCode);
        proxy.Up();
        kit.ProduceUsers(Users(1000));
        await kit.WaitForRowsAsync(1000);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
        var committedBefore = kit.Committed();

        // Outage: open connections cut, new ones refused, while more records arrive.
        proxy.Down();
        kit.ProduceUsers(Users(1000, firstId: 1001));
        await kit.Kafka.WaitUntilAsync(() => WaitingToWrite(kit) >= 3, "three failed writes");
        Assert.Equal(1000, kit.CountRows());
        Assert.Equal(committedBefore, kit.Committed()); // nothing committed past what is in MySQL
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health")).StatusCode);

        proxy.Up();
        await kit.WaitForRowsAsync(2000);
        await kit.WaitForCommittedToEndAsync();
        AssertTableEquals(Users(2000), kit.ReadTable());
        Assert.True(kit.Logs.Contains(LogLevel.Information, $"MySQL at 127.0.0.1:{proxy.Port}"), kit.Logs.Text);
        Assert.True(kit.Logs.Lines.Any(l => l.Level == LogLevel.Information && l.Message.Contains(" is back: writing", StringComparison.Ordinal)), kit.Logs.Text);
        output.WriteLine(string.Join('\n', kit.Logs.Lines.Where(l => l.Level >= LogLevel.Warning).Take(6).Select(l => l.Message)));
    }

    private static int WaitingToWrite(MySqlSinkTestKit kit) =>
        kit.Logs.Lines.Count(l => l.Level == LogLevel.Warning && l.Message.StartsWith("Waiting for MySQL at", StringComparison.Ordinal)
                                  && l.Message.Contains(": writing", StringComparison.Ordinal));

    [Fact]
    public async Task During_an_outage_consumes_at_most_the_next_batch_beside_the_one_being_retried()
    {
        const int batch = 50;
        await using var kit = await CreateAsync();
        using var proxy = TcpToggleProxy.ForMySql(kit.MySql);
        var app = await kit.StartSinkAsync(new Dictionary<string, string> { ["BatchSize"] = $"{batch}", ["RetryBackoffMax"] = "00:00:00.500" },
            proxy.Rewrite(kit.MySql));
        var progress = Progress(app);
        kit.ProduceUsers(Users(200));
        await kit.WaitForRowsAsync(200);
        await kit.WaitForCommittedToEndAsync();
        var committedBefore = kit.Committed();

        // MySQL down while 1000 records wait in Kafka: one batch retries, the next one is consumed, then nothing more.
        proxy.Down();
        kit.ProduceUsers(Users(1000, firstId: 201));
        await kit.Kafka.WaitUntilAsync(() => WaitingToWrite(kit) >= 6, "six failed writes");
        Assert.InRange(progress.Consumed, 200 + batch + 1, 200 + 2 * batch);
        Assert.Equal(committedBefore, kit.Committed());

        proxy.Up();
        await kit.WaitForRowsAsync(1200);
        await kit.WaitForCommittedToEndAsync();
        AssertTableEquals(Users(1200), kit.ReadTable());
    }

    [Fact]
    public async Task Insert_mode_sends_replayed_ids_to_the_dead_letter_topic_and_leaves_the_table_unchanged()
    {
        await using var kit = await CreateAsync();
        var users = Users(300);
        kit.ProduceUsers(users);
        var app = await kit.StartSinkAsync(new Dictionary<string, string> { ["InsertMode"] = "Insert" });
        await kit.WaitForCommittedToEndAsync();
        var first = kit.ReadTable();
        AssertTableEquals(users, first);

        kit.ProduceUsers(users);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(first, kit.ReadTable());
        var dead = kit.Kafka.ReadDeadLetters(300);
        Assert.Equal(300, dead.Count);
        foreach (var d in dead)
        {
            // MySQL's own message quotes the key ("Duplicate entry '42' for key 'PRIMARY'"): the DLQ's text never does.
            var error = PipelineHeaders.GetString(d.Message.Headers, PipelineHeaders.DlqError);
            Assert.Equal("MySQL error 1062 (ER_DUP_ENTRY) for key 'PRIMARY': a row with this key exists already", error);
            Assert.Equal("MySqlDataException", PipelineHeaders.GetString(d.Message.Headers, PipelineHeaders.DlqErrorType));
            Assert.DoesNotContain($"'{Encoding.UTF8.GetString(d.Message.Key!)}'", error, StringComparison.Ordinal);
        }
        Assert.DoesNotContain("Duplicate entry", kit.Logs.Text, StringComparison.Ordinal);
        Assert.Equal(300, Progress(app).DeadLettered);
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

        await using var kit = await CreateAsync();
        var parents = Enumerable.Range(1, 50).ToDictionary(i => (long)i, _ => ActivityContext.Parse(
            $"00-{ActivityTraceId.CreateRandom()}-{ActivitySpanId.CreateRandom()}-01", null));
        kit.ProduceUsers(Users(50), u =>
        {
            var headers = new Headers();
            PipelineTelemetry.Inject($"00-{parents[u.Id].TraceId}-{parents[u.Id].SpanId}-01", headers);
            return headers;
        });
        await kit.StartSinkAsync();
        await kit.WaitForCommittedToEndAsync();

        var traceIds = parents.Values.Select(p => p.TraceId).ToHashSet();
        await kit.Kafka.WaitUntilAsync(() => spans.Count(s => traceIds.Contains(s.TraceId)) >= 50, "50 spans");
        var mine = spans.Where(s => traceIds.Contains(s.TraceId)).ToList();
        Assert.Equal(50, mine.Count);
        foreach (var span in mine)
        {
            var id = long.Parse((string)span.GetTagItem("messaging.kafka.message.key")!, System.Globalization.CultureInfo.InvariantCulture);
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
        await using var kit = await CreateAsync();
        var first = await kit.StartSinkAsync(new Dictionary<string, string> { ["BatchSize"] = "200" });
        kit.ProduceUsers(Users(3000));
        await kit.Kafka.WaitUntilAsync(() => kit.CountRows() > 0, "the first instance writing");

        // The rebalance revokes partitions from the first instance while it holds uncommitted records; the rest comes
        // once the group has split the partitions (each instance logs the ones it opens).
        var opened = kit.Logs.Count(LogLevel.Information, "Opened P_USERS partition");
        var second = await kit.StartSinkAsync(new Dictionary<string, string> { ["BatchSize"] = "200" });
        await kit.Kafka.WaitUntilAsync(() => kit.Logs.Count(LogLevel.Information, "Opened P_USERS partition") >= opened + SinkTestKit.Partitions,
            "both instances to open their partitions");
        kit.ProduceUsers(Users(3000, firstId: 3001));
        await kit.WaitForRowsAsync(6000);
        await kit.WaitForCommittedToEndAsync();
        AssertTableEquals(Users(6000), kit.ReadTable());
        Assert.True(kit.Logs.Contains(LogLevel.Information, "Revoked partitions"), kit.Logs.Text);
        Assert.True(Progress(second).Written > 0, "the second instance got no partitions");
        Assert.True(Progress(first).Written + Progress(second).Written >= 6000);
    }

    [Fact]
    public async Task Backlog_throughput_is_reported()
    {
        // Not a speed assertion: correctness of a larger backlog, with the measured rate printed.
        const int count = 50_000;
        await using var kit = await CreateAsync();
        kit.ProduceUsers(Users(count));
        var app = await kit.StartSinkAsync();
        var progress = Progress(app);
        await kit.Kafka.WaitUntilAsync(() => progress.Written > 0, "the first batch");
        var watch = Stopwatch.StartNew();
        var firstBatch = progress.Written;
        await kit.Kafka.WaitUntilAsync(() => progress.Written >= count, $"{count} rows written");
        watch.Stop();
        await kit.WaitForRowsAsync(count);
        var rate = (count - firstBatch) / watch.Elapsed.TotalSeconds;
        output.WriteLine($"MySQL sink: {count} rows, {count - firstBatch} after the first batch in {watch.Elapsed.TotalSeconds:0.00} s = {rate:0} rows/s ({progress.Commits} commits, {progress.WriteTime.TotalSeconds:0.00} s in MySQL writes)");
        Console.WriteLine($"MySQL sink throughput: {rate:0} rows/s, {progress.WriteTime.TotalSeconds:0.00} s in MySQL writes, {progress.Commits} commits");
        await kit.WaitForCommittedToEndAsync();
    }
}
