using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Confluent.Kafka;
using KafkaPipeline.IntegrationTests.Sinks;
using KafkaPipeline.Shared;
using KafkaPipeline.Tests;
using Microsoft.Extensions.Logging;
using static KafkaPipeline.IntegrationTests.S3Sink.S3SinkTestKit;

namespace KafkaPipeline.IntegrationTests.S3Sink;

/// <summary>
/// The malformed messages users have put on P_USERS (with kcat and the like), among good users events, into a running S3
/// sink: the lake keeps every good one once and in order, the dead-letter topic holds each bad one once, saying what is
/// wrong without quoting a value, with the original's timestamp and headers; the sink goes on.
/// </summary>
public sealed class S3MalformedMessagesTests
{
    private const string Marker = "Mk7q"; // in every text value: an error text holding it quotes a value

    // The time sent is kept: a delivery report of the embedded Kafka can carry another timestamp than the one stored.
    private sealed record Sent(DeliveryResult<byte[]?, byte[]?> Report, DateTime SentAt, UserRecord? User, string? Problem);

    private static UserRecord Marked(long id) => User(id) with { Name = $"{Marker} name {id}" };

    private static byte[] Replace(UserRecord user, string field, string json)
    {
        var node = JsonNode.Parse(UsersEvents.Value(user))!.AsObject();
        if (field == "payload") node["payload"] = "__R__";
        else node["payload"]![field] = "__R__";
        return Encoding.UTF8.GetBytes(node.ToJsonString().Replace("\"__R__\"", json, StringComparison.Ordinal));
    }

    private static Headers NullValued(params string[] names)
    {
        var headers = new Headers();
        foreach (var name in names) headers.Add(name, null);
        return headers;
    }

    [Fact]
    public async Task Every_good_message_is_in_the_lake_once_in_order_each_bad_one_in_the_dead_letter_topic_once_and_the_sink_goes_on()
    {
        await using var kit = await CreateAsync();
        var sent = new List<Sent>();
        var clock = new DateTime(2026, 6, 1, 12, 0, 0, DateTimeKind.Utc);
        async Task Send(byte[]? key, byte[]? value, Headers? headers, UserRecord? user, string? problem)
        {
            var partition = key is null ? 0 : Murmur2Partitioner.Partition(key, SinkTestKit.Partitions);
            clock = clock.AddMilliseconds(1);
            var report = await kit.Kafka.Producer.ProduceAsync(new TopicPartition(SinkTestKit.Topic, partition), new Message<byte[]?, byte[]?>
            {
                Key = key, Value = value, Headers = headers ?? [], Timestamp = new Timestamp(clock, TimestampType.CreateTime),
            });
            sent.Add(new Sent(report, clock, user, problem));
        }
        Task Good(long id, Headers? headers = null, UserRecord? user = null) =>
            Send(SinkTestKit.Key(id), UsersEvents.Value(user ??= Marked(id)), headers, user, null);

        // First the table's schema is known to the sink (a tombstone's key is checked against it).
        var sink = await kit.StartSinkAsync(new Dictionary<string, string> { ["FlushSize"] = "7" });
        for (var id = 1; id <= 20; id++) await Good(id);
        await kit.WaitForRecordsAsync(20);

        var bad = new List<Func<Task>>
        {
            () => Send("101"u8.ToArray(), Encoding.UTF8.GetBytes($"hello {Marker} 101-00-0000, not JSON"), NullValued("op", "traceparent"), null, "value is not valid JSON"),
            () => Send("102"u8.ToArray(), UsersEvents.Value(Marked(102))[..700], null, null, "value is not valid JSON"),
            () => Send("103"u8.ToArray(), Replace(Marked(103), "name", $"\"\\ud800{Marker}\""), null, null, "field 'name' (string) holds text that is not valid Unicode"),
            () => Send("104"u8.ToArray(), Replace(Marked(104), "created_at", "\"2026-02-30T25:61:00Z\""), null, null,
                "field 'created_at' (io.debezium.time.ZonedTimestamp) is not an ISO-8601 timestamp with a zone"),
            () => Send("105"u8.ToArray(), "null"u8.ToArray(), null, null, "value is not a JSON object"),
            () => Send("abc"u8.ToArray(), null, SinkTestKit.Change(ChangeOp.Delete, 900, 1, clock), null, "a tombstone whose key is not a int64"),
            () => Send("7"u8.ToArray(), UsersEvents.Value(Marked(8)), null, null, "the key does not match the key fields of the value"),
            () => Send("108"u8.ToArray(), Replace(Marked(108), "ssn", "\"\\udc00 108-00-0000\""), null, null, "field 'ssn' (string) holds text that is not valid Unicode"),
            () => Send("109"u8.ToArray(), Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat($"{Marker} 109-00-0000 ", 900_000 / 17))), null, null, "value is not valid JSON"),
            () => Send("110"u8.ToArray(), [], null, null, "value is empty"),
            () => Send("111"u8.ToArray(), Replace(Marked(111), "payload", "null"), null, null, "the value's payload is null"),
            () => Send("112"u8.ToArray(), Replace(Marked(112), "id", "1.5"), null, null, "field 'id' (int64) is not an integer"),
            () => Send(null, UsersEvents.Value(Marked(113)), null, null, "the record has no key"),
        };
        // Good ones among them: one whose change headers are all null (no header is no metadata), one of 900 kB.
        var next = 21;
        foreach (var send in bad)
        {
            await send();
            await Good(next++);
        }
        await Good(next++, NullValued(ChangeHeaders.Op, ChangeHeaders.CommitLsn, ChangeHeaders.ChangeLsn, ChangeHeaders.CommitTime, ChangeHeaders.Table,
            ChangeHeaders.Epoch, ChangeHeaders.TxIndex, ChangeHeaders.Unchanged));
        var big = next++;
        await Good(big, user: Marked(big) with { Address = new string('a', 900_000) });
        var good = sent.Count(s => s.Problem is null);
        await kit.WaitForRecordsAsync(good);

        // The sink is still consuming: what comes after the bad ones arrives too.
        for (var i = 0; i < 10; i++) await Good(next++);
        good += 10;
        await kit.WaitForRecordsAsync(good);
        await kit.Kafka.WaitForCommittedToEndAsync(GroupId);
        await sink.StopAsync();

        // The lake: each good message once, as its expected line; nothing of a bad one; each object in offset order.
        var objects = await kit.ReadBucketAsync();
        var stored = new Dictionary<(int, long), string>();
        foreach (var o in objects)
        {
            var offsets = new List<long>();
            foreach (var line in o.Lines)
            {
                using var doc = JsonDocument.Parse(line);
                var at = (doc.RootElement.GetProperty("__kafka_partition").GetInt32(), doc.RootElement.GetProperty("__kafka_offset").GetInt64());
                Assert.Equal(o.Partition, at.Item1);
                Assert.InRange(at.Item2, o.StartOffset, o.EndOffset - 1);
                Assert.True(stored.TryAdd(at, Encoding.UTF8.GetString(line)), $"offset {at} is in the lake twice");
                offsets.Add(at.Item2);
            }
            Assert.Equal(offsets.Order(), offsets);
        }
        foreach (var s in sent.Where(s => s.Problem is null))
        {
            var at = (s.Report.Partition.Value, s.Report.Offset.Value);
            Assert.True(stored.TryGetValue(at, out var line), $"good message {at} (user {s.User!.Id}) is not in the lake");
            Assert.Equal(ExpectedLakeLines.Canonical(ExpectedLakeLines.Users(s.User, Encoding.UTF8.GetString(s.Report.Message.Key!), s.Report.Message.Headers,
                at.Item1, at.Item2, Protector)), ExpectedLakeLines.Canonical(line));
        }
        Assert.Equal(good, stored.Count);
        Assert.DoesNotContain(stored.Values, l => l.Contains("-00-0000", StringComparison.Ordinal));

        // The dead-letter topic: each bad message once, saying what is wrong without a value, with its timestamp and headers.
        var dead = kit.Kafka.ReadDeadLetters(bad.Count);
        Assert.Equal(bad.Count, dead.Count);
        foreach (var s in sent.Where(s => s.Problem is not null))
        {
            var original = s.Report.Message;
            var d = Assert.Single(dead, d => SinkTestKit.Header(d, PipelineHeaders.DlqPartition) == s.Report.Partition.Value.ToString(CultureInfo.InvariantCulture)
                && SinkTestKit.Header(d, PipelineHeaders.DlqOffset) == s.Report.Offset.Value.ToString(CultureInfo.InvariantCulture));
            var error = SinkTestKit.Header(d, PipelineHeaders.DlqError);
            Assert.StartsWith(s.Problem!, error, StringComparison.Ordinal);
            Assert.DoesNotContain(Marker, error, StringComparison.Ordinal);
            Assert.DoesNotContain("-00-0000", error, StringComparison.Ordinal);
            Assert.Equal(nameof(InvalidRecordException), SinkTestKit.Header(d, PipelineHeaders.DlqErrorType));
            Assert.Equal("deserialize", SinkTestKit.Header(d, PipelineHeaders.DlqStage));
            Assert.Equal("s3-sink", SinkTestKit.Header(d, PipelineHeaders.DlqService));
            Assert.Equal(SinkTestKit.Topic, SinkTestKit.Header(d, PipelineHeaders.DlqTopic));
            Assert.Equal(new DateTimeOffset(s.SentAt).ToUnixTimeMilliseconds(), d.Message.Timestamp.UnixTimestampMs);
            Assert.Equal(original.Key, d.Message.Key);
            var kept = d.Message.Headers.Take(original.Headers.Count).Select(h => (h.Key, h.GetValueBytes())).ToList();
            Assert.Equal(original.Headers.Select(h => (h.Key, h.GetValueBytes())), kept);
            var form = SinkTestKit.Header(d, PipelineHeaders.DlqValueForm);
            if (form == "sealed") Assert.Equal(original.Value, Protector.Unseal(d.Message.Value));
            else if (d.Message.Value is not null) Assert.DoesNotContain("-00-0000", Encoding.UTF8.GetString(d.Message.Value), StringComparison.Ordinal);
        }
        Assert.Equal("fields-protected", SinkTestKit.Header(dead.Single(d => SinkTestKit.Header(d, PipelineHeaders.DlqError).Contains("'ssn'", StringComparison.Ordinal)),
            PipelineHeaders.DlqValueForm));
        Assert.False(kit.Logs.Contains(LogLevel.Critical, ""), kit.Logs.Text);
    }
}
