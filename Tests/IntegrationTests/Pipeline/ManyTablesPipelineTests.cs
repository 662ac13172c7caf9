using KafkaPipeline.IntegrationTests.Infrastructure;
using System.Globalization;
using System.Text.Json;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Cdc;
using KafkaPipeline.Shared;
using MySqlConnector;
using Npgsql;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineConvergence;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Pipeline;

/// <summary>
/// Two tables (users and orders, whose key has two columns) through the whole pipeline under Pipeline:Tables: written
/// together in transactions while the source is killed and restarted, they end in MySQL and in the lake as PostgreSQL
/// holds them, each change in its topic once.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class ManyTablesPipelineTests(ITestOutputHelper output)
{
    private const string Orders = "P_ORDERS";
    private const string OrderColumns = "customer_id, order_no, amount, note";

    [Fact]
    public async Task Two_tables_written_in_one_transaction_reach_both_sinks_and_a_killed_source_loses_and_doubles_nothing()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.Cluster.CreateTopic(Orders, PipelineHarness.Partitions);
        h.Cluster.CreateTopic(TopicNames.DeadLetter(Orders), 1);
        h.CommonSettings["Pipeline:Tables"] = "users,orders";
        await TestServers.ExecutePostgresAsync(h.Postgres,
            "CREATE TABLE orders (customer_id bigint, order_no integer, amount numeric(12,2) NOT NULL, note text, PRIMARY KEY (customer_id, order_no))");
        await h.StartSinksAsync();
        h.Start(PipelineHarness.Source, ("Source:HeartbeatInterval", "00:00:01"));
        h.StartGenerator(totalCount: 200, ratePerSecond: 500, maxBatchSize: 20);
        await h.WaitForGeneratorAsync(Patience);
        await CdcConvergence.WaitForSourceAsync(h); // streaming: every change below is a streamed change, none a snapshot row

        // Each transaction writes both tables: an order inserted (some updated or deleted later) and a user's job.
        var orderChanges = 0;
        await using (var conn = new NpgsqlConnection(h.Postgres))
        {
            await conn.OpenAsync();
            for (var i = 1; i <= 150; i++)
            {
                if (i == 60) await h.KillAsync(PipelineHarness.Source);
                if (i == 90) h.Restart(PipelineHarness.Source);
                await using var tx = await conn.BeginTransactionAsync();
                var statements = new List<string>
                {
                    $"INSERT INTO orders VALUES ({i % 20}, {i}, {i}.25, {(i % 4 == 0 ? "NULL" : $"'order {i}'")})",
                    $"UPDATE users SET job = 'ordered {i}' WHERE id = (SELECT min(id) FROM users) + {i % 50}",
                };
                if (i % 5 == 0) statements.Add($"UPDATE orders SET amount = amount * 2, note = 'doubled' WHERE order_no = {i - 3}");
                if (i % 7 == 0) statements.Add($"DELETE FROM orders WHERE order_no = {i - 5}");
                foreach (var sql in statements)
                {
                    await using var cmd = new NpgsqlCommand(sql, conn, tx);
                    if (sql.Contains("orders", StringComparison.Ordinal)) orderChanges += await cmd.ExecuteNonQueryAsync();
                    else await cmd.ExecuteNonQueryAsync();
                }
                await tx.CommitAsync();
                await Task.Delay(20); // a stream the kill lands in the middle of
            }
        }
        await CdcConvergence.WaitForSourceAsync(h);

        // Kafka: every change of orders once (no loss across the kill, no repeat after it), its key the two key columns.
        var topic = await ReadTopicAsync(h.Bootstrap, Orders);
        var changes = topic; // inserts and updates, and a tombstone (null value) for each delete
        Assert.Equal(orderChanges, changes.Count);
        Assert.Equal(changes.Count, changes.Select(m => (Header(m, ChangeHeaders.CommitLsn), Header(m, ChangeHeaders.ChangeLsn))).Distinct().Count());
        Assert.All(changes, m => Assert.Equal("public.orders", Header(m, ChangeHeaders.Table)));
        Assert.Equal(21, changes.Count(m => m.Value is null)); // the deletes
        using (var key = JsonDocument.Parse(changes[0].Key!))
            Assert.Equal(["customer_id", "order_no"], key.RootElement.EnumerateObject().Select(p => p.Name).Order());

        // MySQL: both tables equal PostgreSQL's.
        await WaitForMySqlAsync(h);
        var pgOrders = await PostgresOrdersAsync(h.Postgres);
        await WaitUntilAsync("MySQL's orders to equal PostgreSQL's", async () => Same(pgOrders, await MySqlOrdersAsync(h.MySql)), Patience,
            async () => $"{pgOrders.Count} orders in PostgreSQL, {(await MySqlOrdersAsync(h.MySql)).Count} in MySQL", TimeSpan.FromSeconds(1));

        // The lake: under topics/P_ORDERS/, each offset once; replayed (deletes applied), PostgreSQL's orders.
        await WaitUntilAsync("the S3 sink at the end of P_ORDERS", async () =>
        {
            var marks = await EmbeddedKafkaCluster.GetWatermarksAsync(h.Bootstrap, Orders);
            var stored = await StoredEndOffsetsAsync(h.S3, h.Bucket, Orders);
            var committed = await Task.Run(() => Committed(h.Bootstrap, "s3-sink", Orders, PipelineHarness.Partitions)) ?? [];
            return marks.All(m => m.High == m.Low || Math.Max(stored.GetValueOrDefault(m.Partition, -1), committed.GetValueOrDefault(m.Partition, -1)) == m.High);
        }, Patience, () => Task.FromResult("not yet"), TimeSpan.FromSeconds(1));
        var lake = new Dictionary<(long, int), string?[]>();
        var offsets = new HashSet<(int, long)>();
        foreach (var o in (await ReadObjectsAsync(h.S3, h.Bucket, Orders)).OrderBy(o => o.Partition).ThenBy(o => o.StartOffset))
        {
            foreach (var line in o.Lines)
            {
                var e = JsonDocument.Parse(line).RootElement;
                Assert.True(offsets.Add((e.GetProperty("__kafka_partition").GetInt32(), e.GetProperty("__kafka_offset").GetInt64())), "an offset twice in the lake");
                var id = (e.GetProperty("customer_id").GetInt64(), e.GetProperty("order_no").GetInt32());
                if (e.GetProperty("__deleted").GetString() == "true") lake.Remove(id);
                else lake[id] = [Decimal(e.GetProperty("amount")), e.GetProperty("note").ValueKind == JsonValueKind.Null ? null : e.GetProperty("note").GetString()];
            }
        }
        Assert.True(Same(pgOrders, lake), "the lake's replayed orders differ from PostgreSQL's");
        Assert.Equal(0, await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, TopicNames.DeadLetter(Orders)));
    }

    private static string? Header(TopicMessage m, string name) => PipelineHeaders.GetString(m.Headers, name);

    private static string Decimal(JsonElement e) =>
        decimal.Parse(e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText(), CultureInfo.InvariantCulture).ToString("0.00", CultureInfo.InvariantCulture);

    private static bool Same(Dictionary<(long, int), string?[]> expected, Dictionary<(long, int), string?[]> actual) =>
        expected.Count == actual.Count && expected.All(e => actual.TryGetValue(e.Key, out var a) && a.SequenceEqual(e.Value));

    private static async Task<Dictionary<(long, int), string?[]>> PostgresOrdersAsync(string cs)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"SELECT {OrderColumns} FROM orders", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new Dictionary<(long, int), string?[]>();
        while (await r.ReadAsync())
            rows[(r.GetInt64(0), r.GetInt32(1))] = [r.GetDecimal(2).ToString("0.00", CultureInfo.InvariantCulture), r.IsDBNull(3) ? null : r.GetString(3)];
        return rows;
    }

    private static async Task<Dictionary<(long, int), string?[]>> MySqlOrdersAsync(string cs)
    {
        await using var conn = new MySqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new MySqlCommand($"SELECT {OrderColumns} FROM orders", conn);
        var rows = new Dictionary<(long, int), string?[]>();
        try
        {
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync())
                rows[(r.GetInt64(0), r.GetInt32(1))] = [r.GetDecimal(2).ToString("0.00", CultureInfo.InvariantCulture), r.IsDBNull(3) ? null : r.GetString(3)];
        }
        catch (MySqlException e) when (e.Number == 1146) // the sink creates the table with its first row
        {
        }
        return rows;
    }
}
