using System.Globalization;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.IntegrationTests.Sinks;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Postgres;
using KafkaPipeline.Tests;
using static KafkaPipeline.IntegrationTests.S3Sink.S3SinkTestKit;

namespace KafkaPipeline.IntegrationTests.S3Sink;

/// <summary>
/// The lines of a table of many types, as the S3 sink stores them (in-process, embedded Kafka, s3rver), read back from the
/// bucket and compared with the lines written out by hand from docs/events.md ("Type mapping", "Lake lines").
/// </summary>
public sealed class S3LakeLineTests
{
    private static FieldSchema Column(string name, uint oid, int typmod = -1, bool key = false) => PgTypes.Field(name, PgTypes.BuiltIn(oid)!, typmod, key);

    private static readonly FieldSchema[] s_v1 =
    [
        Column("id", 20, key: true), Column("name", 25), Column("price", 1700, ((10 << 16) | 2) + 4), Column("born", 1082),
        Column("seen", 1184), Column("at", 1114), Column("t", 1083), Column("tags", 1009), Column("photo", 17), Column("doc", 3802),
        Column("ssn", 25),
    ];

    private static readonly FieldSchema s_colour = new("colour", ValueKind.String, SourceType: "COLOUR", LogicalName: LogicalTypes.Enum);

    [Fact]
    public async Task Lines_read_back_hold_every_type_nulls_unchanged_fields_deletes_and_added_and_dropped_columns_with_their_metadata()
    {
        var v1 = new TableSchema("public.items", s_v1);
        var v2 = new TableSchema("public.items", [.. s_v1, s_colour]);                                     // ALTER TABLE ADD COLUMN colour
        var v3 = new TableSchema("public.items", [.. s_v1.Where(f => f.Name != "price"), s_colour]);      // ALTER TABLE DROP COLUMN price
        var seen = ConnectValueJson.FromDateTime(new DateTime(2026, 12, 2, 7, 20, 39, DateTimeKind.Utc).AddTicks(10));
        var at = ConnectValueJson.FromDateTime(new DateTime(2026, 12, 2, 7, 20, 39, 500, DateTimeKind.Unspecified));
        object?[] ada =
        [
            1L, "Ada \"Countess\" Lovelace\n東京", new DecimalValue(123_456, 2), ConnectValueJson.FromDate(new DateOnly(1815, 12, 10)), seen, at,
            3_723_000_004L, new object?[] { "a", null, "c" }, new byte[] { 1, 2, 3 }, "{\"k\": 1}", "123-45-6789",
        ];
        var epoch = new SourceEpoch(1, 7_421_937_485_739_012_345, 1, 0x1A2B3C4);
        var t0 = new DateTime(2026, 12, 2, 8, 0, 0, DateTimeKind.Utc);
        Headers Change(int i, string op, IReadOnlyCollection<string>? unchanged = null)
        {
            var headers = new Headers();
            ChangeHeaders.Write(headers, new ChangeMetadata(op, new SourceVersion(0x100UL * (ulong)(i + 1), 0x100UL * (ulong)(i + 1) - 8), t0.AddSeconds(i),
                TxIndex: i, Table: "public.items", TxId: 700 + i, Epoch: epoch, Unchanged: unchanged));
            return headers;
        }
        var messages = new List<(byte[] Key, byte[]? Value, Headers? Headers)>
        {
            (SinkTestKit.Key(1), ChangeEventWriter.ValueOf(v1, ada), Change(0, ChangeOp.Create)),
            (SinkTestKit.Key(2), ChangeEventWriter.ValueOf(v1, [2L, null, null, null, null, null, null, null, null, null, null]), Change(1, ChangeOp.Create)),
            // An update that left the large photo and doc unchanged: not sent, named in the header.
            (SinkTestKit.Key(1), ChangeEventWriter.ValueOf(v1, ada, new HashSet<int> { 8, 9 }), Change(2, ChangeOp.Update, ["photo", "doc"])),
            (SinkTestKit.Key(3), ChangeEventWriter.ValueOf(v2, [3L, "Bob", new DecimalValue(50, 2), null, null, null, null, null, null, null, null, "blue"]), Change(3, ChangeOp.Create)),
            (SinkTestKit.Key(1), ChangeEventWriter.ValueOf(v3, [1L, "Ada", null, null, null, null, null, null, null, null, "red"]), Change(4, ChangeOp.Update)),
            (SinkTestKit.Key(2), null, Change(5, ChangeOp.Delete)),
        };
        var hash = Protector.Hash("123-45-6789");
        const string AdaFields =
            "\"id\":1,\"name\":\"Ada \\\"Countess\\\" Lovelace\\n東京\",\"price\":1234.56,\"born\":\"1815-12-10\",\"seen\":\"2026-12-02T07:20:39.000001Z\"," +
            "\"at\":\"2026-12-02T07:20:39.500000\",\"t\":\"01:02:03.000004\",\"tags\":[\"a\",null,\"c\"]";
        string[] rows =
        [
            AdaFields + ",\"photo\":\"AQID\",\"doc\":\"{\\\"k\\\": 1}\",\"ssn\":\"" + hash + "\"",
            "\"id\":2,\"name\":null,\"price\":null,\"born\":null,\"seen\":null,\"at\":null,\"t\":null,\"tags\":null,\"photo\":null,\"doc\":null,\"ssn\":null",
            AdaFields + ",\"ssn\":\"" + hash + "\",\"__unchanged\":[\"photo\",\"doc\"]",
            "\"id\":3,\"name\":\"Bob\",\"price\":0.50,\"born\":null,\"seen\":null,\"at\":null,\"t\":null,\"tags\":null,\"photo\":null,\"doc\":null,\"ssn\":null,\"colour\":\"blue\"",
            "\"id\":1,\"name\":\"Ada\",\"born\":null,\"seen\":null,\"at\":null,\"t\":null,\"tags\":null,\"photo\":null,\"doc\":null,\"ssn\":null,\"colour\":\"red\"",
            "\"id\":2",
        ];
        string[] ops = ["c", "c", "u", "c", "u", "d"];

        await using var kit = await CreateAsync();
        var reports = kit.Kafka.Produce(messages);
        var sink = await kit.StartSinkAsync();
        var objects = await kit.WaitForRecordsAsync(messages.Count);
        await sink.StopAsync();

        var stored = objects.SelectMany(o => o.Lines).Select(l => Encoding.UTF8.GetString(l)).ToList();
        Assert.Equal(messages.Count, stored.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            var report = reports.Single(r => PipelineHeaders.GetString(r.Message.Headers, ChangeHeaders.TxIndex) == i.ToString(CultureInfo.InvariantCulture));
            var key = Encoding.UTF8.GetString(report.Message.Key!);
            var expected = "{" + rows[i] + $",\"__op\":\"{ops[i]}\",\"__table\":\"public.items\",\"__key\":\"{key}\",\"__epoch\":\"1:7421937485739012345:1:0/1A2B3C4\"," +
                $"\"__commit_lsn\":\"0/{0x100 * (i + 1):X}\",\"__change_lsn\":\"0/{0x100 * (i + 1) - 8:X}\",\"__tx_index\":{i}," +
                $"\"__commit_ts\":\"2026-12-02T08:00:0{i}.000000Z\",\"__kafka_partition\":{report.Partition.Value},\"__kafka_offset\":{report.Offset.Value}," +
                $"\"__deleted\":\"{(ops[i] == "d" ? "true" : "false")}\"}}";
            var line = Assert.Single(stored, l => l.Contains($"\"__tx_index\":{i},", StringComparison.Ordinal));
            Assert.Equal(ExpectedLakeLines.Canonical(expected), ExpectedLakeLines.Canonical(line));
        }
        // Per partition the lines are in offset order, and no object holds the clear ssn.
        foreach (var o in objects)
        {
            var offsets = o.Lines.Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("__kafka_offset").GetInt64()).ToList();
            Assert.Equal(offsets.Order(), offsets);
            Assert.DoesNotContain("6789", string.Concat(o.Lines.Select(Encoding.UTF8.GetString)), StringComparison.Ordinal);
        }
    }
}
