using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json.Nodes;
using Confluent.Kafka;
using KafkaPipeline.IntegrationTests.Sinks;
using KafkaPipeline.MySqlSinkService;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Postgres;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MySqlConnector;
using static KafkaPipeline.IntegrationTests.MySqlSink.MySqlSinkTestKit;

namespace KafkaPipeline.IntegrationTests.MySqlSink;

/// <summary>
/// The MySQL sink on tables of any shape and on their schema changes while it runs, each on the real servers: types,
/// NULLs, added, widened, dropped and renamed columns, a change MySQL cannot take, unchanged columns, deletes.
/// </summary>
public class MySqlSinkSchemaTests
{
    private static readonly DateTime s_t = new(2026, 12, 2, 7, 0, 0, DateTimeKind.Utc);
    private static readonly SourceEpoch s_epoch = new(1, 7421937485739012345, 1, 0x1000000);
    private static readonly Dictionary<string, string> s_items = new() { ["Table"] = "items" };

    private static FieldSchema Col(string name, uint oid, int typmod = -1, bool key = false, object? @default = null) =>
        PgTypes.Field(name, PgTypes.BuiltIn(oid)!, typmod, key, @default);

    private static int VarChar(int n) => n + 4;
    private static int Numeric(int p, int s) => (p << 16 | s) + 4;

    private static TableSchema Items(params FieldSchema[] fields) => new("public.items", [Col("id", 20, key: true), .. fields]);

    /// <summary>A row change of <paramref name="schema"/> as the CDC source writes it (values in field order, the key first).</summary>
    private static (byte[] Key, byte[]? Value, Headers? Headers) Row(TableSchema schema, ulong lsn, object?[] values, params string[] unchanged)
    {
        var headers = new Headers();
        ChangeHeaders.Write(headers, new ChangeMetadata(ChangeOp.Update, new SourceVersion(lsn, 1), s_t.AddSeconds(lsn), Table: schema.Table,
            Epoch: s_epoch, Unchanged: unchanged.Length == 0 ? null : unchanged));
        var indexes = unchanged.Length == 0 ? null : unchanged.Select(schema.IndexOf).ToHashSet();
        return (EventKeys.Key(schema, values)!, ChangeEventWriter.ValueOf(schema, values, indexes), headers);
    }

    private static (byte[] Key, byte[]? Value, Headers? Headers) Tombstone(byte[] key, ulong lsn, string table = "public.items")
    {
        var headers = new Headers();
        ChangeHeaders.Write(headers, new ChangeMetadata(ChangeOp.Delete, new SourceVersion(lsn, 1), s_t.AddSeconds(lsn), Table: table, Epoch: s_epoch));
        return (key, null, headers);
    }

    private static List<object?[]> Query(MySqlSinkTestKit kit, string sql)
    {
        using var conn = new MySqlConnection(kit.MySql);
        conn.Open();
        using var cmd = new MySqlCommand(sql, conn);
        using var reader = cmd.ExecuteReader();
        var rows = new List<object?[]>();
        while (reader.Read())
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++) row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }

    /// <summary>information_schema's COLUMN_TYPE of a column, or null when the table has no such column.</summary>
    private static string? ColumnType(MySqlSinkTestKit kit, string column, string table = "items") =>
        Query(kit, $"SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' AND COLUMN_NAME = '{column}'")
            .SingleOrDefault()?[0] as string;

    private static object? Value(MySqlSinkTestKit kit, string column, long id, string table = "items") =>
        Query(kit, $"SELECT `{column}` FROM `{table}` WHERE id = {id}").Single()[0];

    private static HttpClient Http(WebApplication app) =>
        new() { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };

    public static TheoryData<string> Paths => new() { "1", "1000000" };

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Every_type_of_the_mapping_comes_back_equal_and_a_null_in_every_column_is_null(string bulkThreshold)
    {
        await using var kit = await CreateAsync();
        var schema = new TableSchema("public.alltypes", [
            Col("id", 20, key: true), Col("b", 16), Col("i2", 21), Col("i4", 23), Col("i8", 20), Col("f4", 700), Col("f8", 701),
            Col("n", 1700, Numeric(40, 9)), Col("nbig", 1700, Numeric(70, 5)), Col("nfree", 1700), Col("vc", 1043, VarChar(20)), Col("t", 25),
            Col("c", 18), Col("by", 17), Col("d", 1082), Col("tm", 1083), Col("ts", 1114), Col("tstz", 1184), Col("iv", 1186), Col("tz", 1266),
            Col("u", 2950), Col("j", 3802), Col("x", 142), Col("arr", 1009), Col("arri", 1007)]);
        var n = new DecimalValue(BigInteger.Parse("-1234567890123456789012345678901123456789", CultureInfo.InvariantCulture), 9);
        var nbig = new DecimalValue(BigInteger.Pow(10, 68) + 12345, 5);
        var ts = ConnectValueJson.FromDateTime(new DateTime(1969, 7, 20, 20, 17, 40, DateTimeKind.Utc).AddTicks(1234560));
        var tstz = ConnectValueJson.FromDateTime(new DateTime(2026, 12, 2, 7, 20, 39, DateTimeKind.Utc).AddTicks(2460010));
        var uuid = Guid.Parse("0b5e0f5c-5d3a-4e7e-9a51-8c9f3a4d2e11");
        object?[] full =
        [
            1L, true, (short)-32768, int.MaxValue, long.MinValue, 1.5f, Math.PI, n, nbig, "123456789012345678901234567890.5", "Zoë 😀 東京", "text\n'\"\\`",
            "A", new byte[] { 0, 1, 2, 255, 10, 13, 9, 92 }, ConnectValueJson.FromDate(new DateOnly(1901, 12, 13)), 86_399_999_999L, ts, tstz,
            "P1Y2M3DT4H5M6.5S", "07:20:39.000000Z", uuid, "{\"a\": [1, 2.5, \"Zoë\"], \"b\": null}", "<a>x</a>",
            new object?[] { "x", null, "y \"z\" Zoë" }, new object?[] { 1, -2, null },
        ];
        var nulls = new object?[full.Length];
        nulls[0] = 2L;
        kit.Kafka.Produce([Row(schema, 100, full), Row(schema, 101, nulls)]);
        await kit.StartSinkAsync(new Dictionary<string, string> { ["Table"] = "alltypes", ["BulkCopyThreshold"] = bulkThreshold });
        await kit.WaitForCommittedToEndAsync();

        string[] types = ["bigint", "tinyint(1)", "smallint", "int", "bigint", "float", "double", "decimal(40,9)", "longtext", "longtext", "varchar(20)",
            "longtext", "varchar(1)", "longblob", "date", "time(6)", "datetime(6)", "datetime(6)", "varchar(64)", "varchar(32)", "char(36)", "json", "longtext", "json", "json"];
        for (var i = 0; i < types.Length; i++)
        {
            var type = ColumnType(kit, schema.Fields[i].Name, "alltypes")!;
            // MariaDB writes integer display widths and reports JSON as LONGTEXT (with a json_valid check); MySQL 8 does neither.
            Assert.True(type == types[i] || type.StartsWith(types[i] + "(", StringComparison.Ordinal) || (types[i] == "json" && type == "longtext"),
                $"column {schema.Fields[i].Name}: {type}, expected {types[i]}");
        }

        var select = string.Join(", ", schema.Fields.Select(f => f.Name is "n" ? "CAST(`n` AS CHAR)" : $"`{f.Name}`"));
        var rows = Query(kit, $"SELECT {select} FROM alltypes ORDER BY id");
        Assert.Equal(2, rows.Count);
        var r = rows[0];
        Assert.Equal(true, r[1]);
        Assert.Equal((short)-32768, r[2]);
        Assert.Equal(int.MaxValue, r[3]);
        Assert.Equal(long.MinValue, r[4]);
        Assert.Equal(1.5f, r[5]);
        Assert.Equal(Math.PI, r[6]);
        Assert.Equal(n.ToString(), r[7]);
        Assert.Equal(nbig.ToString(), r[8]);
        Assert.Equal("123456789012345678901234567890.5", r[9]);
        Assert.Equal("Zoë 😀 東京", r[10]);
        Assert.Equal("text\n'\"\\`", r[11]);
        Assert.Equal("A", r[12]);
        Assert.Equal(new byte[] { 0, 1, 2, 255, 10, 13, 9, 92 }, r[13]);
        Assert.Equal(new DateTime(1901, 12, 13), r[14]);
        Assert.Equal(TimeSpan.FromTicks(863_999_999_990), r[15]);
        Assert.Equal(ConnectValueJson.ToDateTime(ts), r[16]);              // to the microsecond, before 1970
        Assert.Equal(ConnectValueJson.ToDateTime(tstz), r[17]);            // UTC wall clock
        Assert.Equal("P1Y2M3DT4H5M6.5S", r[18]);
        Assert.Equal("07:20:39.000000Z", r[19]);
        Assert.Equal(uuid, r[20] is Guid g ? g : Guid.Parse((string)r[20]!));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("{\"a\": [1, 2.5, \"Zoë\"], \"b\": null}"), JsonNode.Parse((string)r[21]!)), (string)r[21]!);
        Assert.Equal("<a>x</a>", r[22]);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("[\"x\", null, \"y \\\"z\\\" Zoë\"]"), JsonNode.Parse((string)r[23]!)), (string)r[23]!);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("[1, -2, null]"), JsonNode.Parse((string)r[24]!)), (string)r[24]!);
        Assert.Equal(2L, rows[1][0]);
        Assert.All(rows[1].Skip(1), Assert.Null);
    }

    [Fact]
    public async Task An_added_column_arrives_before_its_first_row_and_rows_written_before_it_read_as_PostgreSQL_says()
    {
        await using var kit = await CreateAsync();
        var name = Col("name", 25);
        var stock = Col("stock", 23, @default: 7);
        var note = Col("note", 25);
        var label = Col("label", 25, @default: "none yet");
        var born = Col("born", 1082, @default: ConnectValueJson.FromDate(new DateOnly(1969, 7, 20)));
        var s1 = Items(name);
        kit.Kafka.Produce(Enumerable.Range(1, 5).Select(i => Row(s1, (ulong)(100 + i), [(long)i, $"n{i}"])));
        var app = await kit.StartSinkAsync(s_items);
        await kit.WaitForCommittedToEndAsync();
        Assert.Null(ColumnType(kit, "stock"));

        // ADD COLUMN stock int DEFAULT 7: the rows that exist read 7, as in PostgreSQL; new rows carry their own.
        var s2 = Items(name, stock);
        kit.Kafka.Produce(Enumerable.Range(6, 5).Select(i => Row(s2, (ulong)(200 + i), [(long)i, $"n{i}", i * 10])));
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal([7, 7, 7, 7, 7, 60, 70, 80, 90, 100], Query(kit, "SELECT stock FROM items ORDER BY id").Select(r => r[0]));

        // ADD COLUMN note text (no default): NULL in the rows that exist.
        var s3 = Items(name, stock, note);
        kit.Kafka.Produce([Row(s3, 300, [11L, "n11", 1, "hello"])]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal("longtext", ColumnType(kit, "note"));
        Assert.Equal(10, kit.Scalar("SELECT COUNT(*) FROM items WHERE note IS NULL"));
        Assert.Equal("hello", Value(kit, "note", 11));

        // A text default (MySQL 8 takes it only as an expression: the sink fills the rows) and a date default (a literal).
        var s4 = Items(name, stock, note, label, born);
        kit.Kafka.Produce([Row(s4, 400, [12L, "n12", 2, null, "own", ConnectValueJson.FromDate(new DateOnly(2000, 1, 1))])]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(11, kit.Scalar("SELECT COUNT(*) FROM items WHERE label = 'none yet' AND born = '1969-07-20'"));
        Assert.Equal("own", Value(kit, "label", 12));
        Assert.Equal(new DateTime(2000, 1, 1), Value(kit, "born", 12));
        Assert.True(kit.Logs.Contains(LogLevel.Information, "MySQL table items: added column stock INT with the source's default"), kit.Logs.Text);
        Assert.Equal(0, Progress(app).DeadLettered);
    }

    [Fact]
    public async Task Widenings_are_applied_and_a_lagging_record_of_the_older_type_still_lands()
    {
        await using var kit = await CreateAsync();
        var s1 = Items(Col("count", 23), Col("code", 1043, VarChar(10)), Col("price", 1700, Numeric(10, 2)));
        var s2 = Items(Col("count", 20), Col("code", 1043, VarChar(50)), Col("price", 1700, Numeric(12, 2)));
        var s3 = Items(Col("count", 20), Col("code", 25), Col("price", 1700, Numeric(12, 2)));
        kit.Kafka.Produce([Row(s1, 100, [1L, 5, "abc", new DecimalValue(1234, 2)])]);
        await kit.StartSinkAsync(s_items);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal("int", ColumnType(kit, "count")!.Split('(')[0]);
        Assert.Equal("varchar(10)", ColumnType(kit, "code"));
        Assert.Equal("decimal(10,2)", ColumnType(kit, "price"));

        kit.Kafka.Produce([Row(s2, 200, [2L, 5_000_000_000L, new string('x', 40), new DecimalValue(123456789012, 2)])]);
        await kit.WaitForCommittedToEndAsync();
        Assert.StartsWith("bigint", ColumnType(kit, "count"));
        Assert.Equal("varchar(50)", ColumnType(kit, "code"));
        Assert.Equal("decimal(12,2)", ColumnType(kit, "price"));
        Assert.Equal(5_000_000_000L, Value(kit, "count", 2));
        Assert.Equal(1234567890.12m, Value(kit, "price", 2));
        Assert.Equal(5L, Value(kit, "count", 1));
        Assert.Equal("abc", Value(kit, "code", 1));

        kit.Kafka.Produce([Row(s3, 300, [3L, 1L, new string('y', 300), new DecimalValue(1, 2)]), Row(s1, 150, [4L, 4, "old", new DecimalValue(400, 2)])]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal("longtext", ColumnType(kit, "code"));
        Assert.Equal(new string('y', 300), Value(kit, "code", 3));
        Assert.Equal("old", Value(kit, "code", 4)); // a record from before the widening (a lagging partition's): no narrowing, no stop
        Assert.Equal(4, kit.CountRows("items"));
        Assert.Empty(kit.Kafka.ReadDeadLetters(0));
    }

    [Fact]
    public async Task Keep_leaves_a_dropped_column_NULL_for_new_versions_and_a_rename_is_a_drop_and_an_add()
    {
        await using var kit = await CreateAsync();
        var s1 = Items(Col("name", 25), Col("extra", 25));
        kit.Kafka.Produce([Row(s1, 100, [1L, "a", "x1"]), Row(s1, 101, [2L, "b", "x2"])]);
        await kit.StartSinkAsync(s_items);
        await kit.WaitForCommittedToEndAsync();

        var s2 = Items(Col("name", 25)); // DROP COLUMN extra
        kit.Kafka.Produce([Row(s2, 200, [1L, "a2"])]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal("longtext", ColumnType(kit, "extra"));
        Assert.Null(Value(kit, "extra", 1));
        Assert.Equal("x2", Value(kit, "extra", 2));

        var s3 = Items(Col("full_name", 25)); // RENAME COLUMN name TO full_name
        kit.Kafka.Produce([Row(s3, 300, [1L, "Ada Lovelace"])]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal("Ada Lovelace", Value(kit, "full_name", 1));
        Assert.Null(Value(kit, "name", 1));
        Assert.Equal("b", Value(kit, "name", 2));
    }

    [Fact]
    public async Task A_lagging_record_from_before_an_added_column_leaves_it_as_the_source_has_it_and_one_after_a_drop_writes_NULL()
    {
        await using var kit = await CreateAsync();
        var name = Col("name", 25);
        var old = Items(name);
        var added = Items(name, Col("plan", 25, @default: "free"));
        kit.Kafka.Produce(Enumerable.Range(1, 8).Select(i => Row(old, (ulong)(100 + i), [(long)i, $"n{i}"])));
        var app = await kit.StartSinkAsync(s_items);
        await kit.WaitForCommittedToEndAsync();

        // ALTER TABLE items ADD COLUMN plan text DEFAULT 'free' at LSN 300, seen first in one partition; the others
        // still hold updates (and an insert) committed before it, at lower LSNs, without the column. In PostgreSQL
        // those rows read 'free'.
        kit.Kafka.Produce([Row(added, 300, [1L, "n1", "pro"]), .. Enumerable.Range(2, 4).Select(i => Row(old, (ulong)(200 + i), [(long)i, $"u{i}"])),
            Row(old, 250, [20L, "n20"])]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal("pro", Value(kit, "plan", 1));
        foreach (var id in new long[] { 2, 3, 4, 5, 6, 7, 8, 20 }) Assert.Equal("free", Value(kit, "plan", id));
        Assert.Equal("u2", Value(kit, "name", 2));

        // After a restart the sink still knows where the column begins (kafkapipeline_schema_changes).
        await app.StopAsync();
        app = await kit.StartSinkAsync(s_items);
        kit.Kafka.Produce(Enumerable.Range(6, 3).Select(i => Row(old, (ulong)(260 + i), [(long)i, $"v{i}"])));
        await kit.WaitForCommittedToEndAsync();
        foreach (var id in new long[] { 6, 7, 8 })
        {
            Assert.Equal($"v{id}", Value(kit, "name", id));
            Assert.Equal("free", Value(kit, "plan", id));
        }

        // DROP COLUMN plan at LSN 400: versions after it hold NULL (MySqlSink:OnColumnDropped=keep).
        kit.Kafka.Produce([Row(old, 401, [1L, "w1"]), Row(old, 402, [2L, "w2"])]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Null(Value(kit, "plan", 1));
        Assert.Null(Value(kit, "plan", 2));
        Assert.Equal("free", Value(kit, "plan", 3));
        Assert.Equal(0, Progress(app).DeadLettered);
    }

    [Fact]
    public async Task Drop_drops_a_column_and_an_older_record_of_another_partition_does_not_bring_it_back()
    {
        await using var kit = await CreateAsync();
        var with = Items(Col("name", 25), Col("extra", 25));
        var without = Items(Col("name", 25));
        var settings = new Dictionary<string, string>(s_items) { ["OnColumnDropped"] = "drop" };
        kit.Kafka.Produce([Row(with, 100, [1L, "a", "x1"]), Row(with, 101, [2L, "b", "x2"])]);
        var app = await kit.StartSinkAsync(settings);
        await kit.WaitForCommittedToEndAsync();

        kit.Kafka.Produce([Row(without, 200, [1L, "a2"])]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Null(ColumnType(kit, "extra"));
        Assert.Equal("a2", Value(kit, "name", 1));

        // A record from before the drop (LSN 150: a partition that lags) has the column: it is written without it.
        kit.Kafka.Produce([Row(with, 150, [3L, "c", "x3"])]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Null(ColumnType(kit, "extra"));
        Assert.Equal("c", Value(kit, "name", 3));

        // A restart remembers the drop (kafkapipeline_schema_changes), and a newer record that has it adds it again.
        await app.StopAsync();
        await kit.StartSinkAsync(settings);
        kit.Kafka.Produce([Row(with, 160, [5L, "e", "x5"])]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Null(ColumnType(kit, "extra"));
        kit.Kafka.Produce([Row(with, 400, [4L, "d", "x4"])]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal("x4", Value(kit, "extra", 4));
        Assert.Null(Value(kit, "extra", 3));
        Assert.Equal(1, kit.Scalar("SELECT COUNT(*) FROM kafkapipeline_schema_changes WHERE table_name = 'items' AND column_name = 'extra' AND present AND src_commit_lsn = 400"));
    }

    public static TheoryData<string, uint, object, uint, string> Incompatible => new()
    {
        { "text -> integer", 25, "forty-two", 23, "column n is LONGTEXT in MySQL table items but the source now sends INT (INT4)" },
        { "bigint -> integer", 20, 42L, 23, "column n is BIGINT in MySQL table items but the source now sends INT (INT4)" },
    };

    [Theory]
    [MemberData(nameof(Incompatible))]
    public async Task A_change_MySQL_cannot_take_stops_the_table_at_its_first_record_and_says_why_until_resolved(
        string change, uint fromOid, object fromValue, uint toOid, string expected)
    {
        Assert.NotEmpty(change);
        await using var kit = await CreateAsync();
        var before = Items(Col("n", fromOid));
        var after = Items(Col("n", toOid));
        kit.Kafka.Produce(Enumerable.Range(1, 20).Select(i => Row(before, (ulong)(100 + i), [(long)i, fromValue])));
        var app = await kit.StartSinkAsync(s_items);
        await kit.WaitForCommittedToEndAsync();
        var stored = Query(kit, "SELECT id, n, src_commit_lsn FROM items ORDER BY id");

        // Records of the old schema (ids 21..40) and then of the new one (ids 1..10), as after an ALTER TABLE in the source.
        var reports = kit.Kafka.Produce(Enumerable.Range(21, 20).Select(i => Row(before, (ulong)(200 + i), [(long)i, fromValue]))
            .Concat(Enumerable.Range(1, 10).Select(i => Row(after, (ulong)(300 + i), [(long)i, 7]))));
        var high = await kit.Kafka.HighWatermarksAsync();
        var firstNew = reports.Where(r => Encoding.UTF8.GetString(r.Message.Value!).Contains("\"INT4\"", StringComparison.Ordinal))
            .GroupBy(r => r.Partition.Value).ToDictionary(g => g.Key, g => g.Min(r => r.Offset.Value));
        var expectedCommitted = high.ToDictionary(h => h.Key, h => firstNew.TryGetValue(h.Key, out var first) ? first : h.Value);
        await kit.Kafka.WaitUntilAsync(() => kit.Committed().OrderBy(c => c.Key).SequenceEqual(expectedCommitted.OrderBy(c => c.Key)),
            () => $"committed {string.Join(",", kit.Committed().OrderBy(c => c.Key))} to stop at {string.Join(",", expectedCommitted.OrderBy(c => c.Key))}");
        await kit.Kafka.WaitUntilAsync(() => kit.Logs.Contains(LogLevel.Error, expected), "the stop to be logged");

        // What came before the change is written; nothing of the new schema, nothing dead-lettered.
        Assert.Equal(40, kit.CountRows("items"));
        Assert.Equal(stored, Query(kit, "SELECT id, n, src_commit_lsn FROM items WHERE id <= 20 ORDER BY id"));
        Assert.Equal(0, Progress(app).DeadLettered);
        Assert.Empty(kit.Kafka.ReadDeadLetters(0));
        var error = Assert.Single(kit.Logs.Lines, l => l.Level == LogLevel.Error && l.Message.Contains(expected, StringComparison.Ordinal)).Message;
        Assert.Contains("MySQL sink stopped writing table items", error);
        Assert.Contains("ALTER TABLE `items` MODIFY `n` INT NULL", error);
        Assert.Contains("ALTER TABLE `items` DROP COLUMN `n`", error);
        Assert.Contains("then restart the MySQL sink", error);

        // The process is up and says why on /health.
        using var http = Http(app);
        var health = await http.GetAsync("/health");
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, health.StatusCode);
        var body = await health.Content.ReadAsStringAsync();
        Assert.Contains("mysql table items", body);
        Assert.Contains(expected, JsonNode.Parse(body)!["checks"]!.AsArray().Single(c => (string)c!["name"]! == "pipeline")!["description"]!.GetValue<string>());

        // A restart reads the same records and stops again with the same message; nothing moves.
        await app.StopAsync();
        var restarted = await kit.StartSinkAsync(s_items);
        await kit.Kafka.WaitUntilAsync(() => kit.Logs.Count(LogLevel.Error, expected) == 2, "the stop to be logged again after the restart");
        Assert.Equal(expectedCommitted.OrderBy(c => c.Key), kit.Committed().OrderBy(c => c.Key));
        Assert.Equal(40, kit.CountRows("items"));

        // Resolved by hand as the message says (the column dropped): after a restart the table is written again.
        await restarted.StopAsync();
        kit.Scalar("ALTER TABLE `items` DROP COLUMN `n`");
        await kit.StartSinkAsync(s_items);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal([7, 7, 7, 7, 7, 7, 7, 7, 7, 7], Query(kit, "SELECT n FROM items WHERE id <= 10 ORDER BY id").Select(r => r[0]));
        Assert.Equal("int", ColumnType(kit, "n")!.Split('(')[0]);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task A_column_an_update_did_not_send_keeps_its_stored_value(string bulkThreshold)
    {
        await using var kit = await CreateAsync();
        var schema = Items(Col("name", 25), Col("big", 25));
        kit.Kafka.Produce([
            Row(schema, 100, [1L, "v1", "big 1"]), Row(schema, 101, [2L, "v1", "big 2"]),
            // Two versions of one key, the newest without its large value: the older one in the batch has it.
            Row(schema, 102, [3L, "v1", "big 3"]), Row(schema, 202, [3L, "v2", null], "big"),
            // An unchanged value with no earlier version anywhere: nothing to keep.
            Row(schema, 103, [4L, "v2", null], "big"),
        ]);
        await kit.StartSinkAsync(new Dictionary<string, string>(s_items) { ["BulkCopyThreshold"] = bulkThreshold });
        await kit.WaitForCommittedToEndAsync();
        kit.Kafka.Produce([Row(schema, 300, [1L, "v2", null], "big"), Row(schema, 301, [2L, "v2", "big 2b"])]);
        await kit.WaitForCommittedToEndAsync();

        var rows = Query(kit, "SELECT id, name, big FROM items ORDER BY id");
        Assert.Equal([1L, "v2", "big 1"], rows[0]);
        Assert.Equal([2L, "v2", "big 2b"], rows[1]);
        Assert.Equal([3L, "v2", "big 3"], rows[2]);
        Assert.Equal([4L, "v2", null], rows[3]);
        Assert.DoesNotContain(rows, r => Equals(r[2], LogicalTypes.UnavailablePlaceholder));
    }

    [Fact]
    public async Task Deletes_by_any_key_also_before_the_table_exists_and_in_a_process_that_has_not_seen_the_schema()
    {
        await using var kit = await CreateAsync();
        var schema = new TableSchema("public.items", [Col("order_id", 20, key: true), Col("line", 23, key: true), Col("sku", 1043, VarChar(20), key: true), Col("qty", 23)]);
        byte[] Key(long order, int line, string sku) => EventKeys.Key(schema, [order, line, sku, null])!;

        // A delete for a table MySQL does not have yet: nothing to delete, counted, not an error.
        kit.Kafka.Produce([Tombstone(Key(9, 9, "Z"), 50)]);
        var app = await kit.StartSinkAsync(s_items);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(1, app.Services.GetRequiredService<MySqlSinkTask>().DeletesWithoutTable);
        Assert.Null(ColumnType(kit, "qty"));

        kit.Kafka.Produce([Row(schema, 100, [1L, 1, "A", 5]), Row(schema, 101, [1L, 2, "a", 6]), Row(schema, 102, [2L, 1, "A", 7]), Row(schema, 103, [1L, 1, "a", 8])]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(4, kit.CountRows("items")); // text keys are case-sensitive, as in PostgreSQL

        // A new process: the first record it sees is a delete; the key columns come from MySQL's primary key.
        await app.StopAsync();
        await kit.StartSinkAsync(s_items);
        kit.Kafka.Produce([Tombstone(Key(1, 1, "A"), 200), Tombstone(Key(1, 2, "a"), 201)]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal([[2L, 1, "A", 7], [1L, 1, "a", 8]], Query(kit, "SELECT order_id, line, sku, qty FROM items ORDER BY qty"));
        Assert.Equal(2, kit.Scalar("SELECT COUNT(*) FROM items_deleted"));

        // The marker keeps an older version from bringing the row back.
        kit.Kafka.Produce([Row(schema, 150, [1L, 1, "A", 99])]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(2, kit.CountRows("items"));
        Assert.Empty(kit.Kafka.ReadDeadLetters(0));
    }

    [Fact]
    public async Task A_table_of_the_earlier_sink_gets_the_version_columns_and_keeps_its_order()
    {
        await using var kit = await CreateAsync();
        var old = User(1);
        using (var conn = new MySqlConnection(kit.MySql))
        {
            conn.Open();
            // The layout the sink of the fixed users record created (MySqlSink:Columns, its default).
            using var cmd = new MySqlCommand("""
                CREATE TABLE `users` (
                    `id` BIGINT NOT NULL, `name` VARCHAR(255) NOT NULL, `username` VARCHAR(255) NOT NULL, `mail` VARCHAR(255) NOT NULL,
                    `residence` TEXT NOT NULL, `created_at` DATETIME(6) NOT NULL, `updated_at` DATETIME(6) NOT NULL,
                    `src_commit_lsn` BIGINT UNSIGNED NOT NULL DEFAULT 0, `src_change_lsn` BIGINT UNSIGNED NOT NULL DEFAULT 0,
                    `synced_at` DATETIME(6) NOT NULL, PRIMARY KEY (`id`), KEY (`synced_at`)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
                CREATE TABLE `users_deleted` (
                    `id` BIGINT NOT NULL PRIMARY KEY, `updated_at` DATETIME(6) NOT NULL,
                    `src_commit_lsn` BIGINT UNSIGNED NOT NULL DEFAULT 0, `src_change_lsn` BIGINT UNSIGNED NOT NULL DEFAULT 0, `deleted_at` DATETIME(6) NOT NULL
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
                INSERT INTO users VALUES (1, @name, 'u', 'm', 'r', @t, @t, 0, 0, UTC_TIMESTAMP(6));
                INSERT INTO users_deleted VALUES (2, @t, 0, 0, UTC_TIMESTAMP(6));
                """, conn);
            cmd.Parameters.AddWithValue("@name", old.Name);
            cmd.Parameters.AddWithValue("@t", DateTime.SpecifyKind(old.UpdatedAt, DateTimeKind.Unspecified));
            cmd.ExecuteNonQuery();
        }
        // Older than what is stored (id 1) or deleted (id 2): nothing changes. Newer (id 3, and id 1 version 1): written.
        var older = User(1) with { UpdatedAt = old.UpdatedAt.AddSeconds(-1), Name = "older" };
        kit.ProduceUsers([older, User(2) with { UpdatedAt = old.UpdatedAt.AddSeconds(-5) }, User(3)]);
        var app = await kit.StartSinkAsync(new Dictionary<string, string> { ["ExcludeColumns"] = "ssn,sex,address,birthdate,job,company" });
        await kit.WaitForCommittedToEndAsync();
        Assert.True(kit.Logs.Contains(LogLevel.Information, "MySQL table users upgraded to the sink's version columns"), kit.Logs.Text);
        Assert.Equal(old.Name, Value(kit, "name", 1, "users"));
        Assert.Equal(2, kit.CountRows());
        Assert.Equal(0, kit.Scalar("SELECT COUNT(*) FROM users WHERE id = 2"));

        kit.ProduceUsers([User(1, version: 1) with { UpdatedAt = old.UpdatedAt.AddSeconds(1) }]);
        await kit.WaitForCommittedToEndAsync();
        Assert.Equal(User(1, version: 1).Name, Value(kit, "name", 1, "users"));
        Assert.Equal("longtext", ColumnType(kit, "name", "users"));
        Assert.Equal(0, Progress(app).DeadLettered);
    }
}
