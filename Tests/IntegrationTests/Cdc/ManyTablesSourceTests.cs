using KafkaPipeline.IntegrationTests.Infrastructure;
using System.Text;
using KafkaPipeline.IntegrationTests.Pipeline;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using Npgsql;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineConvergence;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Cdc;

/// <summary>
/// The Cdc source capturing several tables from one slot (Pipeline:Tables), each to its own topic: transactions over
/// two tables, a table added to the list later (an incremental snapshot while writers write), a table added to the
/// publication by hand, a table created after the source started, a composite key, a table without a key.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class ManyTablesSourceTests(ITestOutputHelper output)
{
    private const string Orders = "P_ORDERS";
    private const string OrdersTable = "CREATE TABLE orders (user_id bigint NOT NULL, line integer NOT NULL, item text, qty integer, PRIMARY KEY (user_id, line))";
    private static readonly (string, string?) FastHeartbeat = ("Source:HeartbeatInterval", "00:00:01");

    [Fact]
    public async Task Two_tables_written_in_one_transaction_arrive_in_their_topics_and_a_kill_loses_and_doubles_nothing()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.Cluster.CreateTopic(Orders, PipelineHarness.Partitions);
        await TestServers.ExecutePostgresAsync(h.Postgres, OrdersTable);
        h.StartGenerator(totalCount: 50, ratePerSecond: 1_000, maxBatchSize: 50);
        await h.WaitForGeneratorAsync(Patience);
        (string, string?) tables = ("Pipeline:Tables", "users,orders");
        var source = h.Start(PipelineHarness.Source, tables, FastHeartbeat);
        await source.WaitForOutputAsync("streams to this source", Patience);

        var writers = Task.Run(async () =>
        {
            var random = new Random(3);
            for (var i = 0; i < 300; i++)
            {
                var user = random.Next(1, 51);
                await TestServers.ExecutePostgresAsync(h.Postgres,
                    $"BEGIN; UPDATE users SET job = 'bought {i}' WHERE id = {user}; " +
                    $"INSERT INTO orders VALUES ({user}, {i}, 'item {i}', {i % 7}) ON CONFLICT (user_id, line) DO UPDATE SET qty = orders.qty + 1; " +
                    (i % 10 == 9 ? $"DELETE FROM orders WHERE line = {i - 5}; " : "") + "COMMIT");
            }
        });
        await Task.Delay(TimeSpan.FromSeconds(2));
        await h.KillAsync(PipelineHarness.Source);
        h.Restart(PipelineHarness.Source);
        await writers;
        await CdcConvergence.WaitForSourceAsync(h);

        var users = await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic);
        var orders = await ReadTopicAsync(h.Bootstrap, Orders);
        AssertEachEventOnce(users);
        AssertEachEventOnce(orders);
        ChangeLogAssert.ReplayEqualsTable(users, await PostgresUsersAsync(h.Postgres));
        Assert.Equal(await OrdersAsync(h.Postgres), Replay(orders));
        Assert.All(orders, m => Assert.Equal("public.orders", ChangeHeaders.ReadTable(m.Headers)));
        // The composite key is the key columns as a JSON object, and its partition is murmur2 of those bytes.
        var first = orders.First(m => m.Value is not null);
        Assert.StartsWith("{\"user_id\":", first.KeyText, StringComparison.Ordinal);
        Assert.Equal(Murmur2Partitioner.Partition(first.Key!, PipelineHarness.Partitions), first.Partition);
        // One transaction: the user's update and the order's insert carry the same commit LSN and transaction id.
        var byTx = users.Concat(orders).Where(m => ChangeHeaders.ReadOp(m.Headers) != ChangeOp.Read)
            .GroupBy(m => ChangeHeaders.ReadTxId(m.Headers)).Where(g => g.Key is not null).ToList();
        Assert.Contains(byTx, g => g.Any(m => m.Partition >= 0 && ChangeHeaders.ReadTable(m.Headers) == "public.users")
            && g.Any(m => ChangeHeaders.ReadTable(m.Headers) == "public.orders") && g.Select(m => ChangeHeaders.ReadVersion(m.Headers).CommitLsn).Distinct().Count() == 1);
    }

    [Fact]
    public async Task A_table_added_to_the_list_later_is_snapshotted_while_writers_write_and_ends_equal_to_postgres()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.Cluster.CreateTopic(Orders, PipelineHarness.Partitions);
        await TestServers.ExecutePostgresAsync(h.Postgres, OrdersTable,
            "INSERT INTO orders SELECT u, l, 'before ' || l, l FROM generate_series(1, 300) u, generate_series(1, 40) l");
        h.StartGenerator(totalCount: 20, ratePerSecond: 1_000, maxBatchSize: 20);
        await h.WaitForGeneratorAsync(Patience);
        var source = h.Start(PipelineHarness.Source, FastHeartbeat, ("Source:SnapshotChunkSize", "1000"));
        await CdcConvergence.WaitForSourceAsync(h);
        Assert.Empty(await ReadTopicAsync(h.Bootstrap, Orders));

        // Listed from now on: the source restarts with orders in its list, while writers keep changing orders.
        await h.KillAsync(PipelineHarness.Source);
        using var stop = new CancellationTokenSource();
        var writers = Task.Run(async () =>
        {
            var random = new Random(9);
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var u = random.Next(1, 301);
                await TestServers.ExecutePostgresAsync(h.Postgres, (i % 3) switch
                {
                    0 => $"UPDATE orders SET qty = qty + 1000, item = 'changed {i}' WHERE user_id = {u}",
                    1 => $"DELETE FROM orders WHERE user_id = {u} AND line = {random.Next(1, 41)}",
                    _ => $"INSERT INTO orders VALUES ({u}, {100 + i}, 'new {i}', 1)",
                });
            }
        });
        h.Restart(PipelineHarness.Source, ("Pipeline:Tables", "users,orders"));
        await h[PipelineHarness.Source].WaitForOutputAsync("every row is read", Patience);
        await stop.CancelAsync();
        await writers;
        await CdcConvergence.WaitForSourceAsync(h);

        var orders = await ReadTopicAsync(h.Bootstrap, Orders);
        Assert.Equal(await OrdersAsync(h.Postgres), Replay(orders));
        Assert.True(orders.Count(m => ChangeHeaders.ReadOp(m.Headers) == ChangeOp.Read) >= 5_000, "the snapshot rows are not there");
        // users was not snapshotted again.
        Assert.Equal(20, (await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic)).Count);
    }

    [Fact]
    public async Task A_table_added_to_the_publication_by_hand_never_reaches_a_topic_and_a_listed_table_created_later_is_captured_without_a_restart()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.Cluster.CreateTopic(Orders, PipelineHarness.Partitions);
        h.Cluster.CreateTopic("P_INTRUDER", PipelineHarness.Partitions);
        await TestServers.ExecutePostgresAsync(h.Postgres, "CREATE TABLE intruder (id bigint PRIMARY KEY, secret text)");
        h.StartGenerator(totalCount: 10, ratePerSecond: 1_000, maxBatchSize: 10);
        await h.WaitForGeneratorAsync(Patience);
        var source = h.Start(PipelineHarness.Source, ("Pipeline:Tables", "users,orders"), FastHeartbeat);
        await source.WaitForOutputAsync("streams to this source", Patience);
        Assert.True(source.Output.Contains("orders, which does not exist yet", StringComparison.Ordinal), "the missing table is not reported");

        await TestServers.ExecutePostgresAsync(h.Postgres, "ALTER PUBLICATION kafka_pipeline_users ADD TABLE intruder",
            "INSERT INTO intruder VALUES (10, 'not for the pipeline'); DELETE FROM intruder WHERE id = 10");
        await TestServers.ExecutePostgresAsync(h.Postgres, OrdersTable, "INSERT INTO orders VALUES (10, 1, 'first', 1), (10, 2, 'second', 2)");
        await source.WaitForOutputAsync("Capturing public.orders", Patience);
        await TestServers.ExecutePostgresAsync(h.Postgres, "UPDATE orders SET qty = 5 WHERE line = 1", "UPDATE users SET job = 'after' WHERE id = 1");
        await CdcConvergence.WaitForSourceAsync(h);
        await WaitUntilAsync("orders in Kafka", async () => Replay(await ReadTopicAsync(h.Bootstrap, Orders)).Count == 2, Patience,
            () => Task.FromResult("not yet"));

        Assert.Equal(await OrdersAsync(h.Postgres), Replay(await ReadTopicAsync(h.Bootstrap, Orders)));
        Assert.Empty(await ReadTopicAsync(h.Bootstrap, "P_INTRUDER"));
        var everything = (await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic)).Concat(await ReadTopicAsync(h.Bootstrap, Orders));
        Assert.DoesNotContain(everything, m => m.Value is not null && Encoding.UTF8.GetString(m.Value).Contains("not for the pipeline", StringComparison.Ordinal));
        Assert.True(source.Output.Contains("public.intruder, which is not in Pipeline:Tables", StringComparison.Ordinal), "the intruder is not reported");
    }

    [Fact]
    public async Task A_listed_table_without_a_key_is_refused_at_start_naming_it_and_the_fix()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        await TestServers.ExecutePostgresAsync(h.Postgres, "CREATE TABLE events_log (at timestamptz, what text)");
        h.StartGenerator(totalCount: 1, ratePerSecond: 1_000, maxBatchSize: 1);
        await h.WaitForGeneratorAsync(Patience);
        var source = h.Start(PipelineHarness.Source, ("Pipeline:Tables", "users,events_log"));
        Assert.Equal(1, await source.WaitForExitAsync(Patience));
        Assert.Contains("public.events_log has no primary key", source.Output, StringComparison.Ordinal);
        Assert.Contains("REPLICA IDENTITY FULL", source.Output, StringComparison.Ordinal);
    }

    private static void AssertEachEventOnce(IReadOnlyList<TopicMessage> topic)
    {
        var seen = new HashSet<(long, ulong, ulong, long?)>();
        foreach (var m in topic)
        {
            var v = ChangeHeaders.ReadVersion(m.Headers);
            Assert.True(seen.Add((ChangeHeaders.ReadEpoch(m.Headers).Ordinal, v.CommitLsn, v.ChangeLsn, ChangeHeaders.ReadTxIndex(m.Headers))),
                $"{m.Partition}@{m.Offset}: event {v}#{ChangeHeaders.ReadTxIndex(m.Headers)} twice");
        }
    }

    /// <summary>The orders table as (key text -> "item|qty"), read from PostgreSQL.</summary>
    private static async Task<Dictionary<string, string>> OrdersAsync(string connectionString)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT user_id, line, item, qty FROM orders", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new Dictionary<string, string>();
        while (await r.ReadAsync())
            rows[$"{{\"user_id\":{r.GetInt64(0)},\"line\":{r.GetInt32(1)}}}"] = $"{(r.IsDBNull(2) ? "" : r.GetString(2))}|{(r.IsDBNull(3) ? "" : r.GetInt32(3).ToString(System.Globalization.CultureInfo.InvariantCulture))}";
        return rows;
    }

    /// <summary>The orders topic replayed per key (tombstones remove it), as (key -> "item|qty").</summary>
    private static Dictionary<string, string> Replay(IReadOnlyList<TopicMessage> topic)
    {
        var reader = new ChangeEventReader();
        var rows = new Dictionary<string, string>();
        foreach (var m in topic.OrderBy(m => m.Partition).ThenBy(m => m.Offset))
        {
            if (m.Value is null)
            {
                rows.Remove(m.KeyText);
                continue;
            }
            var row = reader.Read(m.Value);
            rows[m.KeyText] = $"{row["item"] as string ?? ""}|{row["qty"]?.ToString() ?? ""}";
        }
        return rows;
    }
}
