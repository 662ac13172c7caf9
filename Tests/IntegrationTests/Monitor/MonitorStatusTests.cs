using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.Monitor;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Customers;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace KafkaPipeline.IntegrationTests.Monitor;

/// <summary>The Monitor's status line against real s3rver, PostgreSQL and the embedded Kafka.</summary>
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
    public async Task The_status_line_shows_the_WAL_a_replication_slot_retains_and_the_topics_top_countries()
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
            var tally = new CustomerTally();
            tally.Apply(new CustomerChange(1, false, "Ann", "Chile", DateTime.UtcNow, null, false));
            tally.Apply(new CustomerChange(2, false, "Bob", "Chile", DateTime.UtcNow, null, false));
            tally.Apply(new CustomerChange(3, false, "Cid", "Peru", DateTime.UtcNow, null, false));
            await using var db = NpgsqlDataSource.Create(postgres);
            using var status = new PipelineStatus(db, new KafkaClients(kafka.BootstrapServers, NullLoggerFactory.Instance), TestServers.MySql, TestServers.S3Options(bucket.Name).CreateClient(),
                new LakeProgress(bucket.Client, bucket.Name, "topics", "P_USERS"), tally, "P_USERS", "users");

            var snapshot = await status.ReadAsync(CancellationToken.None);

            var wal = Assert.Single(snapshot.Slots!);
            Assert.Equal(slot, wal.Slot);
            Assert.False(wal.Active);
            Assert.True(wal.RetainedBytes > 1_000_000, $"the slot retains {wal.RetainedBytes} bytes after 1 MB of inserts");
            Assert.Equal(2000, snapshot.PostgresUsers);
            Assert.Equal(0, snapshot.TopicMessages);
            var line = snapshot.ToLine();
            Assert.Contains($"slot {slot} ", line, StringComparison.Ordinal);
            Assert.Contains("MB WAL retained (inactive)", line, StringComparison.Ordinal);
            Assert.Contains("top sign-up countries: Chile 2, Peru 1", line, StringComparison.Ordinal);
        }
        finally
        {
            await Exec(conn, $"SELECT pg_drop_replication_slot('{slot}')");
        }
    }

    private static async Task Exec(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
