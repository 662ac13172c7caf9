using System.Text;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Postgres;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MySqlConnector;
using static KafkaPipeline.IntegrationTests.MySqlSink.MySqlSinkTestKit;

namespace KafkaPipeline.IntegrationTests.MySqlSink;

/// <summary>
/// One MySQL sink for the topics of two tables (Pipeline:Tables = users,orders), on the real servers: each topic into
/// its own table (orders with a composite key), per-table column exclusions, each topic's dead letters to its own
/// dead-letter topic, and a stopped table that holds up only its own topic.
/// </summary>
public class MySqlSinkManyTablesTests
{
    private const string Orders = "P_ORDERS";
    private const string OrdersDlq = "P_ORDERS.dlq";
    private static readonly DateTime s_t = new(2026, 12, 2, 7, 0, 0, DateTimeKind.Utc);
    private static readonly SourceEpoch s_epoch = new(1, 7421937485739012345, 1, 0x1000000);

    private static FieldSchema Col(string name, uint oid, bool key = false) => PgTypes.Field(name, PgTypes.BuiltIn(oid)!, -1, key, null);

    private static readonly TableSchema s_users = new("public.users", [Col("id", 20, key: true), Col("name", 25), Col("ssn", 25)]);

    private static TableSchema OrdersSchema(uint qtyOid = 20) =>
        new("public.orders", [Col("customer_id", 20, key: true), Col("order_no", 23, key: true), Col("card_number", 25), Col("qty", qtyOid)]);

    private static (byte[] Key, byte[]? Value, Headers? Headers) Row(TableSchema schema, ulong lsn, object?[] values) =>
        (EventKeys.Key(schema, values)!, ChangeEventWriter.ValueOf(schema, values, null), Headers(ChangeOp.Update, lsn, schema.Table!));

    private static Headers Headers(string op, ulong lsn, string table)
    {
        var headers = new Headers();
        ChangeHeaders.Write(headers, new ChangeMetadata(op, new SourceVersion(lsn, 1), s_t.AddSeconds(lsn), Table: table, Epoch: s_epoch));
        return headers;
    }

    private static async Task<MySqlSinkTestKit> CreateKitAsync()
    {
        var kit = await CreateAsync();
        kit.Kafka.Kafka.CreateTopic(Orders, 4);
        kit.Kafka.Kafka.CreateTopic(OrdersDlq, 1);
        return kit;
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

    private static List<string> Columns(MySqlSinkTestKit kit, string table) =>
        [.. Query(kit, $"SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'").Select(r => (string)r[0]!)];

    private static Task WaitForBothAsync(MySqlSinkTestKit kit) =>
        Task.WhenAll(kit.Kafka.WaitForCommittedToEndAsync(GroupId), kit.Kafka.WaitForCommittedToEndAsync(GroupId, Orders));

    [Fact]
    public async Task Two_topics_go_to_two_tables_equal_to_what_was_produced_with_per_table_exclusions_composite_keys_and_dead_letters_per_topic()
    {
        await using var kit = await CreateKitAsync();
        kit.Kafka.Produce(Enumerable.Range(1, 30).Select(i => Row(s_users, (ulong)(100 + i), [(long)i, $"Zoë {i}", $"{i:D3}-00-0000"])));
        var orders = OrdersSchema();
        var orderReports = kit.Kafka.Produce(Enumerable.Range(1, 20).Select(i => Row(orders, (ulong)(200 + i), [(long)(i % 3), i, $"4111-{i:D4}", (long)i]))
            .Concat([
                Row(orders, 300, [1L, 1, "4111-0001", 100L]), // an update of (1, 1)
                (EventKeys.Key(orders, [2L, 2, null, null])!, null, Headers(ChangeOp.Delete, 301, "public.orders")), // a delete of (2, 2)
                (EventKeys.Key(orders, [9L, 9, null, null])!, "not json"u8.ToArray(), Headers(ChangeOp.Update, 302, "public.orders")),
            ]), Orders);

        var app = await kit.StartSinkAsync(new Dictionary<string, string> { ["ExcludeColumns"] = "ssn, orders.card_number" }, tables: "users,orders");
        await WaitForBothAsync(kit);

        // users: every column but ssn (plain: every table); orders: every column but card_number (only orders').
        Assert.DoesNotContain("ssn", Columns(kit, "users"));
        Assert.Contains("name", Columns(kit, "users"));
        Assert.DoesNotContain("card_number", Columns(kit, "orders"));
        Assert.Contains("qty", Columns(kit, "orders"));
        Assert.Equal(Enumerable.Range(1, 30).Select(i => new object?[] { (long)i, $"Zoë {i}" }), Query(kit, "SELECT id, name FROM users ORDER BY id"));
        var expectedOrders = Enumerable.Range(1, 20).Select(i => (Customer: (long)(i % 3), No: i, Qty: i == 1 ? 100L : i))
            .Where(o => o is not { Customer: 2, No: 2 }).OrderBy(o => o.Customer).ThenBy(o => o.No)
            .Select(o => new object?[] { o.Customer, o.No, o.Qty });
        Assert.Equal(expectedOrders, Query(kit, "SELECT customer_id, order_no, qty FROM orders ORDER BY customer_id, order_no"));

        // The malformed order goes to P_ORDERS.dlq, naming its topic; nothing to the users' dead-letter topic.
        var dead = Assert.Single(kit.Kafka.ReadDeadLetters(1, OrdersDlq));
        var original = orderReports.Single(r => r.Message.Value is { } v && Encoding.UTF8.GetString(v) == "not json");
        Assert.Equal(Orders, Sinks.SinkTestKit.Header(dead, PipelineHeaders.DlqTopic));
        Assert.Equal($"{original.Partition.Value}", Sinks.SinkTestKit.Header(dead, PipelineHeaders.DlqPartition));
        Assert.Equal($"{original.Offset.Value}", Sinks.SinkTestKit.Header(dead, PipelineHeaders.DlqOffset));
        Assert.Empty(kit.Kafka.ReadDeadLetters(0));
        Assert.Equal(1, Progress(app).DeadLettered);
    }

    [Fact]
    public async Task A_stopped_table_stops_only_its_own_topic_and_the_other_table_goes_on()
    {
        await using var kit = await CreateKitAsync();
        kit.Kafka.Produce(Enumerable.Range(1, 8).Select(i => Row(OrdersSchema(), (ulong)(100 + i), [1L, i, "x", (long)i])), Orders);
        kit.Kafka.Produce(Enumerable.Range(1, 10).Select(i => Row(s_users, (ulong)(100 + i), [(long)i, $"u{i}", null])));
        var app = await kit.StartSinkAsync(tables: "users,orders");
        await WaitForBothAsync(kit);

        // orders' qty narrows from bigint to integer: MySQL's BIGINT column cannot take it, the orders table stops.
        var narrowed = kit.Kafka.Produce(Enumerable.Range(1, 8).Select(i => Row(OrdersSchema(qtyOid: 23), (ulong)(200 + i), [1L, i, "x", 7])), Orders);
        await kit.Kafka.WaitUntilAsync(() => kit.Logs.Contains(LogLevel.Error, "MySQL sink stopped writing table orders"), "the orders table to stop");

        // users keep flowing, to the end of their topic, while orders stays stopped at its first narrowed record.
        kit.Kafka.Produce(Enumerable.Range(11, 10).Select(i => Row(s_users, (ulong)(300 + i), [(long)i, $"u{i}", null])));
        await kit.Kafka.WaitForCommittedToEndAsync(GroupId);
        Assert.Equal(20, kit.CountRows("users"));
        var firstNarrowed = narrowed.GroupBy(r => r.Partition.Value).ToDictionary(g => g.Key, g => g.Min(r => r.Offset.Value));
        await kit.Kafka.WaitUntilAsync(() => firstNarrowed.All(f => kit.Kafka.Committed(GroupId, Orders)[f.Key] == f.Value),
            "orders committed up to its first narrowed record in each partition");
        await Task.Delay(TimeSpan.FromSeconds(2)); // and no further
        Assert.All(firstNarrowed, f => Assert.Equal(f.Value, kit.Kafka.Committed(GroupId, Orders)[f.Key]));
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (object?)(long)i), Query(kit, "SELECT qty FROM orders ORDER BY order_no").Select(r => r[0]));
        Assert.Empty(kit.Kafka.ReadDeadLetters(0, OrdersDlq));
        Assert.Equal(0, Progress(app).DeadLettered);
        using var http = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };
        var health = await (await http.GetAsync(new Uri("/health", UriKind.Relative))).Content.ReadAsStringAsync();
        Assert.Contains("mysql table orders", health);
        Assert.DoesNotContain("mysql table users", health);
    }
}
