using System.Text;
using Confluent.Kafka;
using CsCheck;
using KafkaPipeline.S3SinkService;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Sinks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.UnitTests.S3Sink;

/// <summary>
/// Lake lines written from records read as the sinks read them (<see cref="SinkRecordReader"/> over event values the
/// contract's writer built), compared with the lines written out by hand.
/// </summary>
public sealed class LakeLinesTests : IDisposable
{
    private static readonly FieldProtector Protector = new(new ProtectionOptions());
    private readonly SinkRecordReader _reader = new();
    private readonly LakeRecords _records = new(Protector);
    private readonly LakeLines _lines = new();

    public void Dispose() => _lines.Dispose();

    private static ConsumeResult<byte[]?, byte[]?> Message(byte[]? key, byte[]? value, Headers? headers = null, int partition = 0, long offset = 0) => new()
    {
        TopicPartitionOffset = new TopicPartitionOffset("P_USERS", partition, offset),
        Message = new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = headers ?? [] },
    };

    private static Headers Headers(ChangeMetadata change)
    {
        var headers = new Headers();
        ChangeHeaders.Write(headers, change);
        return headers;
    }

    private string Line(ConsumeResult<byte[]?, byte[]?> message) => Encoding.UTF8.GetString(_lines.Line(_records.Of(_reader.Read(message))));

    private static readonly DateTime s_created = new DateTime(2026, 12, 2, 7, 20, 39, DateTimeKind.Utc).AddTicks(2_460_010);

    [Fact]
    public void A_users_line_has_every_column_in_the_lake_representation_the_ssn_hashed_and_the_change_metadata()
    {
        var user = new UserRecord
        {
            Id = 7, Name = "Zoë \"Q\" <b>\n😀", Username = "zoe", Sex = "F", Address = "1 Rue de l'Église", Mail = "z@example.com",
            Birthdate = new DateOnly(1990, 5, 17), Job = "Engineer", Company = "ACME & Co", Ssn = "123-45-6789", Residence = "Ireland",
            CreatedAt = s_created, UpdatedAt = new DateTime(2026, 12, 2, 7, 20, 40, DateTimeKind.Utc),
        };
        var headers = Headers(new ChangeMetadata(ChangeOp.Update, new SourceVersion(0x16B3748, 0x16B3700),
            new DateTime(2026, 12, 2, 7, 20, 41, DateTimeKind.Utc).AddTicks(20), TxIndex: 3, Table: "public.users", TxId: 991,
            Epoch: new SourceEpoch(2, 7421937485739012345, 1, 0x1A2B3C4)));

        var line = Line(Message(UsersEvents.Key(7), UsersEvents.Value(user), headers, partition: 2, offset: 41));

        Assert.Equal(
            "{\"id\":7,\"name\":\"Zoë \\\"Q\\\" <b>\\n\\uD83D\\uDE00\",\"username\":\"zoe\",\"sex\":\"F\",\"address\":\"1 Rue de l'Église\"," +
            "\"mail\":\"z@example.com\",\"birthdate\":\"1990-05-17\",\"job\":\"Engineer\",\"company\":\"ACME & Co\"," +
            $"\"ssn\":\"{Protector.Hash("123-45-6789")}\",\"residence\":\"Ireland\"," +
            "\"created_at\":\"2026-12-02T07:20:39.246001Z\",\"updated_at\":\"2026-12-02T07:20:40.000000Z\"," +
            "\"__op\":\"u\",\"__table\":\"public.users\",\"__key\":\"7\",\"__epoch\":\"2:7421937485739012345:1:0/1A2B3C4\"," +
            "\"__commit_lsn\":\"0/16B3748\",\"__change_lsn\":\"0/16B3700\",\"__tx_index\":3,\"__commit_ts\":\"2026-12-02T07:20:41.000002Z\"," +
            "\"__kafka_partition\":2,\"__kafka_offset\":41,\"__deleted\":\"false\"}",
            line);
    }

    private static readonly TableSchema s_everyKind = new("public.every", [
        new FieldSchema("l", ValueKind.Int64, Optional: false, IsKey: true, SourceType: "INT8"),
        new FieldSchema("b", ValueKind.Boolean), new FieldSchema("s", ValueKind.Int16), new FieldSchema("i", ValueKind.Int32),
        new FieldSchema("f", ValueKind.Float32), new FieldSchema("d", ValueKind.Float64),
        new FieldSchema("dec", ValueKind.Decimal, SourceType: "NUMERIC", Length: 10, Scale: 2),
        new FieldSchema("num", ValueKind.String, SourceType: "NUMERIC"), new FieldSchema("num_nan", ValueKind.String, SourceType: "NUMERIC"),
        new FieldSchema("t", ValueKind.String, SourceType: "TEXT"), new FieldSchema("by", ValueKind.Bytes),
        new FieldSchema("dt", ValueKind.Date), new FieldSchema("dt_far", ValueKind.Date), new FieldSchema("dt_bc", ValueKind.Date),
        new FieldSchema("tm", ValueKind.Time), new FieldSchema("tm_end", ValueKind.Time),
        new FieldSchema("ts", ValueKind.Timestamp), new FieldSchema("ts_far", ValueKind.Timestamp), new FieldSchema("tz", ValueKind.TimestampTz),
        new FieldSchema("u", ValueKind.Uuid), new FieldSchema("j", ValueKind.Json),
        new FieldSchema("iv", ValueKind.String, LogicalName: LogicalTypes.Interval), new FieldSchema("e", ValueKind.String, LogicalName: LogicalTypes.Enum),
        new FieldSchema("ints", ValueKind.Array, Items: new FieldSchema("ints", ValueKind.Int32)),
        new FieldSchema("times", ValueKind.Array, Items: new FieldSchema("times", ValueKind.TimestampTz)),
        new FieldSchema("nan", ValueKind.Float64), new FieldSchema("inf", ValueKind.Float32), new FieldSchema("nothing", ValueKind.String),
    ]);

    [Fact]
    public void Every_kind_is_written_in_its_lake_representation()
    {
        var micros = ConnectValueJson.FromDateTime(s_created);
        object?[] values =
        [
            9_007_199_254_740_993L, true, (short)-3, 123_456, 0.1f, 2.5, new DecimalValue(-5, 2),
            "-1234567890.000000000012345678901", "NaN", "x\ty", new byte[] { 0, 1, 2, 255 },
            0, 3_000_000, -719_163, 86_400_000_000L, 45_296_000_001L, micros, long.MaxValue, micros,
            Guid.Parse("0b9d0c2e-5f34-4c4e-9a51-3c1a8e7d9f00"), "{\"a\": [1, 2]}", "P1Y2M3DT4H5M6.000007S", "blue",
            new object?[] { 1, null, 3 }, new object?[] { micros }, double.NaN, float.NegativeInfinity, null,
        ];
        var line = Line(Message("9007199254740993"u8.ToArray(), ChangeEventWriter.ValueOf(s_everyKind, values)));
        Assert.StartsWith(
            "{\"l\":9007199254740993,\"b\":true,\"s\":-3,\"i\":123456,\"f\":0.1,\"d\":2.5,\"dec\":-0.05," +
            "\"num\":-1234567890.000000000012345678901,\"num_nan\":\"NaN\",\"t\":\"x\\ty\",\"by\":\"AAEC/w==\"," +
            "\"dt\":\"1970-01-01\",\"dt_far\":3000000,\"dt_bc\":-719163,\"tm\":\"24:00:00.000000\",\"tm_end\":\"12:34:56.000001\"," +
            "\"ts\":\"2026-12-02T07:20:39.246001\",\"ts_far\":9223372036854775807,\"tz\":\"2026-12-02T07:20:39.246001Z\"," +
            "\"u\":\"0b9d0c2e-5f34-4c4e-9a51-3c1a8e7d9f00\",\"j\":\"{\\\"a\\\": [1, 2]}\",\"iv\":\"P1Y2M3DT4H5M6.000007S\",\"e\":\"blue\"," +
            "\"ints\":[1,null,3],\"times\":[\"2026-12-02T07:20:39.246001Z\"],\"nan\":\"NaN\",\"inf\":\"-Infinity\",\"nothing\":null," +
            "\"__op\":null,\"__table\":\"public.every\",\"__key\":\"9007199254740993\",\"__epoch\":null,\"__commit_lsn\":null," +
            "\"__change_lsn\":null,\"__tx_index\":null,\"__commit_ts\":null,\"__kafka_partition\":0,\"__kafka_offset\":0,\"__deleted\":\"false\"}",
            line);
    }

    [Fact]
    public void Protected_fields_are_hashed_over_their_text_whatever_their_kind_and_case_and_null_stays_null()
    {
        var protector = new FieldProtector(new ProtectionOptions { Fields = ["ssn", "born", "tags", "gone"] });
        var records = new LakeRecords(protector);
        var schema = new TableSchema("public.p", [
            new FieldSchema("id", ValueKind.Int64, Optional: false, IsKey: true), new FieldSchema("SSN", ValueKind.Int64),
            new FieldSchema("Born", ValueKind.Date), new FieldSchema("tags", ValueKind.Array, Items: new FieldSchema("tags", ValueKind.String)),
            new FieldSchema("gone", ValueKind.String),
        ]);
        var value = ChangeEventWriter.ValueOf(schema, [1L, 123_456_789L, 7_440, new object?[] { "a", "b" }, null]);
        var line = Encoding.UTF8.GetString(_lines.Line(records.Of(_reader.Read(Message("1"u8.ToArray(), value)))));
        Assert.StartsWith(
            $"{{\"id\":1,\"SSN\":\"{protector.Hash("123456789")}\",\"Born\":\"{protector.Hash("7440")}\"," +
            $"\"tags\":\"{protector.Hash("[\"a\",\"b\"]")}\",\"gone\":null,\"__op\":null,",
            line);
    }

    [Fact]
    public void Nulls_are_null_and_unchanged_fields_are_left_out_and_listed()
    {
        var schema = new TableSchema("public.docs", [
            new FieldSchema("id", ValueKind.Int32, Optional: false, IsKey: true), new FieldSchema("body", ValueKind.String),
            new FieldSchema("blob", ValueKind.Bytes), new FieldSchema("note", ValueKind.String), new FieldSchema("title", ValueKind.String),
        ]);
        // body and blob were not sent (the header names them); title holds the placeholder without the header: unchanged too.
        var value = ChangeEventWriter.ValueOf(schema, [5, null, null, null, LogicalTypes.UnavailablePlaceholder], new HashSet<int> { 1, 2 });
        var headers = Headers(new ChangeMetadata(ChangeOp.Update, new SourceVersion(10, 11), new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc),
            Unchanged: ["body", "blob"]));
        var line = Line(Message("5"u8.ToArray(), value, headers));
        Assert.StartsWith("{\"id\":5,\"note\":null,\"__unchanged\":[\"body\",\"blob\",\"title\"],\"__op\":\"u\",\"__table\":\"public.docs\",\"__key\":\"5\",", line);
        Assert.DoesNotContain(LogicalTypes.UnavailablePlaceholder, line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_delete_has_the_key_fields_of_the_table_s_latest_schema_the_metadata_and_the_deleted_marker()
    {
        var t = new DateTime(2026, 3, 1, 0, 0, 0, DateTimeKind.Utc);
        var delete = Headers(new ChangeMetadata(ChangeOp.Delete, new SourceVersion(500, 499), t, TxIndex: 0, Table: "public.users", TxId: 12));

        // Before any row of the table: only the key.
        Assert.Equal(
            "{\"__op\":\"d\",\"__table\":\"public.users\",\"__key\":\"7\",\"__epoch\":null,\"__commit_lsn\":\"0/1F4\",\"__change_lsn\":\"0/1F3\"," +
            "\"__tx_index\":0,\"__commit_ts\":\"2026-03-01T00:00:00.000000Z\",\"__kafka_partition\":1,\"__kafka_offset\":9,\"__deleted\":\"true\"}",
            Line(Message(UsersEvents.Key(7), null, delete, partition: 1, offset: 9)));

        Line(Message(UsersEvents.Key(8), UsersEvents.Value(new UserRecord { Id = 8 }), Headers(new ChangeMetadata(ChangeOp.Create, new SourceVersion(400, 1), t, Table: "public.users"))));
        Assert.StartsWith("{\"id\":7,\"__op\":\"d\",\"__table\":\"public.users\",\"__key\":\"7\",",
            Line(Message(UsersEvents.Key(7), null, delete, partition: 1, offset: 10)));
        // A tombstone without a table header is of the topic's table (the last row's).
        Assert.StartsWith("{\"id\":9,\"__op\":\"d\",\"__table\":null,\"__key\":\"9\",\"__epoch\":null,\"__commit_lsn\":null,",
            Line(Message(UsersEvents.Key(9), null)));
    }

    [Fact]
    public void A_composite_key_s_delete_has_each_key_field_and_a_protected_key_is_hashed_in_every_line()
    {
        var protector = new FieldProtector(new ProtectionOptions { Fields = ["ssn"] });
        var records = new LakeRecords(protector);
        string LineOf(ConsumeResult<byte[]?, byte[]?> m) => Encoding.UTF8.GetString(_lines.Line(records.Of(_reader.Read(m))));

        var lines = new TableSchema("public.lines", [
            new FieldSchema("order_id", ValueKind.Int32, Optional: false, IsKey: true), new FieldSchema("line", ValueKind.Int16, Optional: false, IsKey: true),
            new FieldSchema("day", ValueKind.Date),
        ]);
        var key = EventKeys.Key(lines, [7, (short)2, 0])!;
        Assert.Equal("{\"order_id\":7,\"line\":2}", Encoding.UTF8.GetString(key));
        LineOf(Message(key, ChangeEventWriter.ValueOf(lines, [7, (short)2, 0])));
        var table = Headers(new ChangeMetadata(ChangeOp.Delete, default, DateTime.UnixEpoch, Table: "public.lines"));
        Assert.StartsWith("{\"order_id\":7,\"line\":2,\"__op\":\"d\",\"__table\":\"public.lines\",\"__key\":\"{\\\"order_id\\\":7,\\\"line\\\":2}\",",
            LineOf(Message(key, null, table)));

        var people = new TableSchema("public.people", [new FieldSchema("ssn", ValueKind.String, Optional: false, IsKey: true), new FieldSchema("name", ValueKind.String)]);
        var hash = protector.Hash("123-45-6789");
        Assert.StartsWith($"{{\"ssn\":\"{hash}\",\"name\":\"Ada\",\"__op\":null,\"__table\":\"public.people\",\"__key\":\"{hash}\",",
            LineOf(Message("123-45-6789"u8.ToArray(), ChangeEventWriter.ValueOf(people, ["123-45-6789", "Ada"]))));
        var gone = LineOf(Message("123-45-6789"u8.ToArray(), null, Headers(new ChangeMetadata(ChangeOp.Delete, default, DateTime.UnixEpoch, Table: "public.people"))));
        Assert.StartsWith($"{{\"ssn\":\"{hash}\",\"__op\":\"d\",\"__table\":\"public.people\",\"__key\":\"{hash}\",", gone);
        Assert.DoesNotContain("6789", gone, StringComparison.Ordinal);
    }

    [Fact]
    public void A_column_added_to_the_table_is_in_the_lines_after_the_change_and_a_dropped_one_is_gone()
    {
        FieldSchema id = new("id", ValueKind.Int64, Optional: false, IsKey: true), name = new("name", ValueKind.String), age = new("age", ValueKind.Int32);
        var v1 = new TableSchema("public.t", [id, name]);
        var v2 = new TableSchema("public.t", [id, name, age]);
        var v3 = new TableSchema("public.t", [id, age]);
        Assert.StartsWith("{\"id\":1,\"name\":\"a\",\"__op\"", Line(Message("1"u8.ToArray(), ChangeEventWriter.ValueOf(v1, [1L, "a"]))));
        Assert.StartsWith("{\"id\":2,\"name\":\"b\",\"age\":30,\"__op\"", Line(Message("2"u8.ToArray(), ChangeEventWriter.ValueOf(v2, [2L, "b", 30]))));
        Assert.StartsWith("{\"id\":3,\"age\":31,\"__op\"", Line(Message("3"u8.ToArray(), ChangeEventWriter.ValueOf(v3, [3L, 31]))));
    }

    [Fact]
    public void A_polling_record_without_lsns_has_null_positions_and_its_commit_time()
    {
        var headers = Headers(new ChangeMetadata(ChangeOp.Read, SourceVersion.None, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), Table: "public.users"));
        var line = Line(Message(UsersEvents.Key(3), UsersEvents.Value(new UserRecord { Id = 3 }), headers));
        Assert.Contains("\"__op\":\"r\",\"__table\":\"public.users\",\"__key\":\"3\",\"__epoch\":null,\"__commit_lsn\":null,\"__change_lsn\":null," +
            "\"__tx_index\":null,\"__commit_ts\":\"2026-01-01T00:00:00.000000Z\",", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_row_the_reader_accepts_has_one_line_of_json_with_its_fields_in_schema_order_then_the_metadata() =>
        Gen.Select(KafkaPipeline.UnitTests.Contract.ContractGen.Row, Gen.Bool).Sample((row, delete) =>
        {
            var (schema, values) = row;
            if (EventKeys.Key(schema, values) is not { } key) return; // a table without a key has no events
            var record = _reader.Read(Message(key, ChangeEventWriter.ValueOf(schema, values)));
            if (delete)
            {
                _records.Of(record); // the row before its delete: the table's latest schema
                record = _reader.Read(Message(key, null));
            }
            var line = _lines.Line(_records.Of(record)).ToArray();
            Assert.DoesNotContain((byte)'\n', line);
            Assert.DoesNotContain((byte)'\r', line);
            using var doc = System.Text.Json.JsonDocument.Parse(line);
            var names = doc.RootElement.EnumerateObject().Select(p => p.Name).ToList();
            var fields = delete ? schema.KeyIndexes.Select(i => schema.Fields[i].Name) : schema.Fields.Select(f => f.Name);
            Assert.Equal([.. fields, "__op", "__table", "__key", "__epoch", "__commit_lsn", "__change_lsn", "__tx_index", "__commit_ts",
                "__kafka_partition", "__kafka_offset", "__deleted"], names);
        }, iter: 1000, threads: 1);

    [Fact]
    public async Task A_record_that_cannot_be_written_as_a_line_is_errant_at_stage_s3_format_and_the_others_are_buffered()
    {
        using var task = new S3SinkTask(Options.Create(new S3SinkOptions()), Options.Create(new S3Options { ServiceUrl = "http://127.0.0.1:9" }),
            Protector, NullLogger<S3SinkTask>.Instance);
        var schema = new TableSchema("public.t", [new FieldSchema("id", ValueKind.Int64, Optional: false, IsKey: true), new FieldSchema("n", ValueKind.Int32)]);
        // Not a row the reader can produce (it holds a string where the schema says int32): the guard, not the reader, must catch it.
        var bad = new SinkRecord(Message("1"u8.ToArray(), [], offset: 0), "1", new RowImage(schema, [1L, "secret-value"], null), ChangeSource.From(null));
        var good = _reader.Read(Message("2"u8.ToArray(), ChangeEventWriter.ValueOf(schema, [2L, 5]), offset: 1));
        var errant = await task.PutAsync([bad, good], CancellationToken.None);
        var e = Assert.Single(errant);
        Assert.Equal(S3SinkTask.FormatStage, e.Stage);
        Assert.Equal(0, e.Message.Offset.Value);
        Assert.IsType<InvalidRecordException>(e.Error);
        Assert.DoesNotContain("secret-value", e.Error.Message, StringComparison.Ordinal);
        Assert.Contains("InvalidCastException", e.Error.Message, StringComparison.Ordinal);
        Assert.NotNull(task.NextFlushAt); // the good record waits in an open object
    }
}
