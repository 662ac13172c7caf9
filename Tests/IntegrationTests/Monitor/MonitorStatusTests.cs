using Confluent.Kafka;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.Monitor;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Customers;
using Microsoft.Extensions.Logging.Abstractions;
using MySqlConnector;
using Npgsql;

namespace KafkaPipeline.IntegrationTests.Monitor;

/// <summary>The Monitor's status against real s3rver, PostgreSQL, MariaDB and the embedded Kafka.</summary>
public sealed class MonitorStatusTests
{
    private static async Task PutAsync(TestBucket bucket, string key, int records)
    {
        var put = S3Extensions.PlainPut(bucket.Name, key, new byte[records], "application/x-ndjson");
        put.Metadata.Add("record-count", records.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await bucket.Client.PutObjectAsync(put);
    }

    private static string Key(string dir, int partition, long offset) =>
        $"{dir}/P_USERS/partition={partition}/P_USERS+{partition}+{offset:D10}.json";

    [Fact]
    public async Task The_lake_is_read_incrementally_under_the_configured_prefix()
    {
        using var bucket = await TestServers.CreateS3BucketAsync("mon");
        await PutAsync(bucket, Key("lake", 0, 0), 5);
        await PutAsync(bucket, Key("lake", 0, 5), 3);
        await PutAsync(bucket, Key("lake", 1, 0), 7);
        await PutAsync(bucket, Key("topics", 0, 0), 100); // another prefix: not the sink's (S3Sink:TopicsDir = lake)
        var lake = new LakeProgress(bucket.Client, bucket.Name, "lake", "P_USERS");

        Assert.Equal((15L, 3L), await lake.RefreshAsync(CancellationToken.None));

        await PutAsync(bucket, Key("lake", 0, 8), 2);
        await PutAsync(bucket, Key("lake", 1, 7), 1);
        Assert.Equal((18L, 5L), await lake.RefreshAsync(CancellationToken.None));
        Assert.Equal((18L, 5L), await lake.RefreshAsync(CancellationToken.None)); // nothing new: nothing counted twice

        // An object whose metadata is missing (s3rver still storing it, or another writer) is not counted and holds
        // back only its own partition until it has some.
        await bucket.Client.PutObjectAsync(S3Extensions.PlainPut(bucket.Name, Key("lake", 0, 10), new byte[1], "application/x-ndjson"));
        await PutAsync(bucket, Key("lake", 1, 8), 4);
        Assert.Equal((22L, 6L), await lake.RefreshAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_lake_that_was_empty_at_the_first_status_line_is_counted_at_the_next()
    {
        using var bucket = await TestServers.CreateS3BucketAsync("mon");
        var lake = new LakeProgress(bucket.Client, bucket.Name, "topics", "P_USERS");
        Assert.Equal((0L, 0L), await lake.RefreshAsync(CancellationToken.None)); // the sink has written nothing yet

        await PutAsync(bucket, Key("topics", 2, 0), 6);
        Assert.Equal((6L, 1L), await lake.RefreshAsync(CancellationToken.None));
    }

    [Fact]
    public async Task The_status_shows_every_table_in_each_store_with_the_sinks_lag_and_the_users_customers()
    {
        // users and orders, each in PostgreSQL, in its topic (orders: a dead letter too), in MySQL and in the lake, all
        // written here by hand; mysql-sink has committed part of P_ORDERS, s3-sink all of it, neither anything of P_USERS.
        var postgres = await TestServers.CreatePostgresDatabaseAsync("mon");
        await using (var conn = new NpgsqlConnection(postgres))
        {
            await conn.OpenAsync();
            await Exec(conn, "CREATE TABLE users (id bigint PRIMARY KEY); INSERT INTO users SELECT generate_series(1, 5)");
            await Exec(conn, "CREATE TABLE orders (id bigint PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 7)");
        }
        var mysql = await TestServers.CreateMySqlDatabaseAsync("mon");
        await using (var conn = new MySqlConnection(mysql))
        {
            await conn.OpenAsync();
            await using var cmd = new MySqlCommand(
                """
                CREATE TABLE users (id BIGINT PRIMARY KEY, updated_at DATETIME(6), synced_at DATETIME(6));
                INSERT INTO users VALUES (1, '2026-12-02 10:00:00', '2026-12-02 10:00:00.042'), (2, '2026-12-02 09:00:00', '2026-12-02 09:00:00.500');
                CREATE TABLE orders (id BIGINT PRIMARY KEY, synced_at DATETIME(6));
                INSERT INTO orders (id) VALUES (1), (2), (3);
                """, conn);
            await cmd.ExecuteNonQueryAsync();
        }
        using var bucket = await TestServers.CreateS3BucketAsync("mon");
        await PutAsync(bucket, "topics/P_USERS/partition=0/P_USERS+0+0000000000.json", 4);
        await PutAsync(bucket, "topics/P_ORDERS/partition=1/P_ORDERS+1+0000000000.json", 2);
        await PutAsync(bucket, "topics/P_ORDERS/partition=3/P_ORDERS+3+0000000000.json", 6);

        using var kafka = EmbeddedKafkaCluster.Start(1);
        foreach (var (topic, partitions) in new[] { ("P_USERS", 4), ("P_USERS.dlq", 1), ("P_ORDERS", 4), ("P_ORDERS.dlq", 1) })
            kafka.CreateTopic(topic, partitions);
        var clients = new KafkaClients(kafka.BootstrapServers, NullLoggerFactory.Instance);
        using (var producer = clients.Producer<byte[], byte[]>("monitor-test").Build())
        {
            for (var i = 0; i < 6; i++) await producer.ProduceAsync(new TopicPartition("P_USERS", i % 4), new Message<byte[], byte[]> { Key = [1], Value = [1] });
            for (var i = 0; i < 9; i++) await producer.ProduceAsync(new TopicPartition("P_ORDERS", 2), new Message<byte[], byte[]> { Key = [2], Value = [2] });
            await producer.ProduceAsync("P_ORDERS.dlq", new Message<byte[], byte[]> { Key = [2], Value = [2] });
        }
        Commit(clients, "mysql-sink", new TopicPartitionOffset("P_ORDERS", 2, 5));
        Commit(clients, "s3-sink", new TopicPartitionOffset("P_ORDERS", 2, 9));

        var tally = new CustomerTally();
        tally.Apply(new CustomerChange(1, false, "Ann", "Chile", DateTime.UtcNow, null, false));
        tally.Apply(new CustomerChange(2, false, "Bob", "Chile", DateTime.UtcNow, null, false));
        tally.Apply(new CustomerChange(3, false, "Cid", "Peru", DateTime.UtcNow, null, false));
        await using var db = NpgsqlDataSource.Create(postgres);
        MonitoredTable Table(string name) => new(new TableName(null, name), $"P_{name.ToUpperInvariant()}",
            new LakeProgress(bucket.Client, bucket.Name, "topics", $"P_{name.ToUpperInvariant()}"));
        using var status = new PipelineStatus(db, clients, mysql, [Table("users"), Table("orders")], ["mysql-sink", "s3-sink"], "P_USERS", tally);

        var snapshot = await status.ReadAsync(CancellationToken.None);

        Assert.Equal(new TableStatus("users", "P_USERS", 5, 6, 0, 2, 4, 1, [new("mysql-sink", 6), new("s3-sink", 6)]), snapshot.Of("users"), TableStatusComparer.Instance);
        Assert.Equal(new TableStatus("orders", "P_ORDERS", 7, 9, 1, 3, 8, 2, [new("mysql-sink", 4), new("s3-sink", 0)]), snapshot.Of("orders"), TableStatusComparer.Instance);
        Assert.Equal(3, snapshot.Users!.Customers);
        Assert.Equal(42, snapshot.Users.LatestLatencyMs); // the row synced last
        var lines = snapshot.ToLines().ToList();
        Assert.Equal(3, lines.Count); // a line per table, one for the slots
        Assert.Equal("users: PostgreSQL 5 rows | P_USERS 6 msgs, DLQ 0 | MySQL 2 rows | S3 4 records in 1 objects | lag mysql-sink 6, s3-sink 6 | " +
                     "3 customers | latest e2e PG->MySQL 42 ms | top sign-up countries: Chile 2, Peru 1", lines[0]);
        Assert.Equal("orders: PostgreSQL 7 rows | P_ORDERS 9 msgs, DLQ 1 | MySQL 3 rows | S3 8 records in 2 objects | lag mysql-sink 4, s3-sink 0", lines[1]);
        Assert.Equal("slot none", lines[2]);
    }

    [Fact]
    public async Task A_table_one_store_does_not_have_yet_shows_as_unknown_there_and_the_others_still_count()
    {
        var postgres = await TestServers.CreatePostgresDatabaseAsync("mon");
        await using (var conn = new NpgsqlConnection(postgres))
        {
            await conn.OpenAsync();
            await Exec(conn, "CREATE SCHEMA sales; CREATE TABLE sales.orders (id bigint PRIMARY KEY); INSERT INTO sales.orders VALUES (1), (2)");
        }
        var mysql = await TestServers.CreateMySqlDatabaseAsync("mon");
        using var bucket = await TestServers.CreateS3BucketAsync("mon");
        using var kafka = EmbeddedKafkaCluster.Start(1);
        kafka.CreateTopic("P_SALES_ORDERS", 2);
        await using var db = NpgsqlDataSource.Create(postgres);
        var orders = new MonitoredTable(new TableName("sales", "orders"), "P_SALES_ORDERS", new LakeProgress(bucket.Client, bucket.Name, "topics", "P_SALES_ORDERS"));
        var users = new MonitoredTable(new TableName(null, "users"), "P_USERS", new LakeProgress(bucket.Client, bucket.Name, "topics", "P_USERS"));
        using var status = new PipelineStatus(db, new KafkaClients(kafka.BootstrapServers, NullLoggerFactory.Instance), mysql, [orders, users],
            ["mysql-sink"], "P_USERS", new CustomerTally());

        var snapshot = await status.ReadAsync(CancellationToken.None);

        // sales.orders: in PostgreSQL and Kafka, no MySQL table (the sink's would be sales_orders), nothing in the lake.
        Assert.Equal(new TableStatus("sales.orders", "P_SALES_ORDERS", 2, 0, null, null, 0, 0, [new("mysql-sink", 0)]), snapshot.Of("sales.orders"), TableStatusComparer.Instance);
        Assert.Equal("sales_orders", orders.MySqlTable);
        // users: nowhere yet.
        Assert.Equal(new TableStatus("users", "P_USERS", null, null, null, null, 0, 0, [new("mysql-sink", null)]), snapshot.Of("users"), TableStatusComparer.Instance);
        Assert.StartsWith("users: PostgreSQL ? rows | P_USERS ? msgs, DLQ ? | MySQL ? rows", snapshot.ToLines().ElementAt(1), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_status_shows_the_WAL_a_replication_slot_retains()
    {
        var postgres = await TestServers.CreatePostgresDatabaseAsync("mon");
        var slot = TestServers.UniqueName("slot");
        await using var conn = new NpgsqlConnection(postgres);
        await conn.OpenAsync();
        await Exec(conn, $"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')");
        try
        {
            await Exec(conn, "CREATE TABLE users (id bigint PRIMARY KEY, filler text); INSERT INTO users SELECT g, repeat('x', 500) FROM generate_series(1, 2000) g");
            using var kafka = EmbeddedKafkaCluster.Start(1);
            kafka.CreateTopic("P_USERS", 2);
            using var bucket = await TestServers.CreateS3BucketAsync("mon");
            await using var db = NpgsqlDataSource.Create(postgres);
            using var status = new PipelineStatus(db, new KafkaClients(kafka.BootstrapServers, NullLoggerFactory.Instance), TestServers.MySql,
                [new MonitoredTable(new TableName(null, "users"), "P_USERS", new LakeProgress(bucket.Client, bucket.Name, "topics", "P_USERS"))],
                ["mysql-sink"], "P_USERS", new CustomerTally());

            var snapshot = await status.ReadAsync(CancellationToken.None);

            var wal = Assert.Single(snapshot.Slots!);
            Assert.Equal(slot, wal.Slot);
            Assert.False(wal.Active);
            Assert.True(wal.RetainedBytes > 1_000_000, $"the slot retains {wal.RetainedBytes} bytes after 1 MB of inserts");
            Assert.Equal(2000, snapshot.Of("users").PostgresRows);
            Assert.Equal(0, snapshot.Of("users").TopicMessages);
            var line = snapshot.ToLines().Last();
            Assert.StartsWith($"slot {slot} ", line, StringComparison.Ordinal);
            Assert.EndsWith("MB WAL retained (inactive)", line, StringComparison.Ordinal);
        }
        finally
        {
            await Exec(conn, $"SELECT pg_drop_replication_slot('{slot}')");
        }
    }

    /// <summary>Commits offsets for a group as a sink does (a consumer of the group, assigned by hand).</summary>
    private static void Commit(KafkaClients clients, string group, TopicPartitionOffset offset)
    {
        using var consumer = clients.Consumer<byte[], byte[]>(group, "monitor-test").Build();
        consumer.Commit([offset]);
    }

    /// <summary>Records compare their lists by reference: compare every field, the lags by value.</summary>
    private sealed class TableStatusComparer : IEqualityComparer<TableStatus>
    {
        public static readonly TableStatusComparer Instance = new();
        private static readonly GroupLag[] s_none = [];

        public bool Equals(TableStatus? x, TableStatus? y) =>
            x is not null && y is not null && x with { Lag = s_none } == y with { Lag = s_none } && x.Lag.SequenceEqual(y.Lag);

        public int GetHashCode(TableStatus obj) => obj.Table.GetHashCode(StringComparison.Ordinal);
    }

    private static async Task Exec(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
