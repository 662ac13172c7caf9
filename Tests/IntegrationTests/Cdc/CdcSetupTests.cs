using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.Shared;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Xunit.Abstractions;

namespace KafkaPipeline.IntegrationTests.Cdc;

/// <summary>What the Cdc source says and does when PostgreSQL is not ready for it: it stops, naming the fix.</summary>
public sealed class CdcSetupTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_role_without_REPLICATION_stops_the_source_with_the_fix()
    {
        var cs = await TestServers.CreatePostgresDatabaseAsync("norepl");
        var (role, roleCs) = await TestServers.CreateRoleAsync("norepl", TestServers.DatabaseName(cs), "NOREPLICATION");
        await ExecuteAsync(cs, $"GRANT CREATE ON SCHEMA public TO \"{role}\"");
        using var kafka = StartKafka();

        await using var source = StartSource(roleCs, kafka, TestServers.DatabaseName(cs));
        Assert.Equal(1, await source.WaitForExitAsync(Patience));
        Assert.Contains($"Role \"{role}\" lacks the REPLICATION attribute", source.Output, StringComparison.Ordinal);
        Assert.Contains($"ALTER ROLE \"{role}\" REPLICATION", source.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("starting over", source.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_publication_made_by_someone_else_for_another_table_gets_the_captured_table_added_and_keeps_the_other()
    {
        var cs = await TestServers.CreatePostgresDatabaseAsync("foreignpub");
        await using (var db = NpgsqlDataSource.Create(cs)) await UsersSchema.EnsureAsync(db, "users", NullLogger.Instance, CancellationToken.None);
        await ExecuteAsync(cs, "CREATE TABLE orders (id bigint PRIMARY KEY); CREATE PUBLICATION kafka_pipeline_users FOR TABLE orders");
        using var kafka = StartKafka();
        try
        {
            await using var source = StartSource(cs, kafka, TestServers.DatabaseName(cs));
            await source.WaitForOutputAsync("Streaming changes", Patience);
            // The source adds what it captures; it takes out only what it added itself (orders is someone else's).
            Assert.Equal(2L, (long)(await ScalarAsync(cs, "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'kafka_pipeline_users' AND tablename IN ('users', 'orders')"))!);
            await source.StopAsync(Patience);
        }
        finally
        {
            await TestServers.DropReplicationSlotsAsync(cs);
        }
    }

    [Theory]
    [InlineData("Cdc", "may not create its state table \"kafka_pipeline_cdc_state\"")]
    [InlineData("TimestampIncrementing", "may not create its position table \"kafka_pipeline_source_offsets\"")]
    public async Task A_role_that_may_not_create_the_sources_own_table_stops_it_naming_the_table(string mode, string message)
    {
        var cs = await TestServers.CreatePostgresDatabaseAsync("nostate");
        await using (var db = NpgsqlDataSource.Create(cs)) await UsersSchema.EnsureAsync(db, "users", NullLogger.Instance, CancellationToken.None);
        // The users table, its index and trigger exist (made by their owner); the service's role may use them, nothing more.
        var (role, roleCs) = await TestServers.CreateRoleAsync("nostate", TestServers.DatabaseName(cs));
        await ExecuteAsync(cs, $"GRANT SELECT, INSERT, UPDATE ON users TO \"{role}\"");
        using var kafka = StartKafka();

        await using var source = StartSource(roleCs, kafka, TestServers.DatabaseName(cs), ("Source__Mode", mode));
        Assert.Equal(1, await source.WaitForExitAsync(Patience));
        Assert.Contains(message, source.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Waiting for PostgreSQL", source.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_role_that_may_not_read_the_table_stops_the_source_instead_of_retrying()
    {
        var cs = await TestServers.CreatePostgresDatabaseAsync("noselect");
        await using (var db = NpgsqlDataSource.Create(cs)) await UsersSchema.EnsureAsync(db, "users", NullLogger.Instance, CancellationToken.None);
        // The owner keeps the rights to publish the table and has REPLICATION, but may no longer read it (the snapshot).
        await ExecuteAsync(cs, "REVOKE SELECT ON users FROM CURRENT_USER");
        using var kafka = StartKafka();
        try
        {
            await using var source = StartSource(cs, kafka, TestServers.DatabaseName(cs));
            Assert.Equal(1, await source.WaitForExitAsync(Patience));
            Assert.Contains("PostgreSQL refused a statement of the source (42501: permission denied for table users)", source.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("starting over", source.Output, StringComparison.Ordinal);
        }
        finally
        {
            await TestServers.DropReplicationSlotsAsync(cs);
        }
    }

    [Fact]
    public async Task A_slot_name_taken_in_another_database_stops_the_second_source_with_the_fix()
    {
        var first = await TestServers.CreatePostgresDatabaseAsync("slotowner");
        var second = await TestServers.CreatePostgresDatabaseAsync("slotthief");
        var slot = TestServers.DatabaseName(first);
        foreach (var cs in new[] { first, second })
        {
            // The source captures a table; it does not create it (it would wait for it).
            await using var db = NpgsqlDataSource.Create(cs);
            await UsersSchema.EnsureAsync(db, "users", NullLogger.Instance, CancellationToken.None);
        }
        using var kafka = StartKafka();
        try
        {
            await using (var owner = StartSource(first, kafka, slot))
            {
                await owner.WaitForOutputAsync("Streaming changes", Patience);
                await owner.StopAsync(Patience);
            }
            await using var thief = StartSource(second, kafka, slot);
            Assert.Equal(1, await thief.WaitForExitAsync(Patience));
            Assert.Contains($"Replication slot {slot} (Source:Slot) already exists for pgoutput in database {slot}", thief.Output, StringComparison.Ordinal);
            Assert.Contains("set Source:Slot to another name", thief.Output, StringComparison.Ordinal);
        }
        finally
        {
            await TestServers.DropReplicationSlotsAsync(first);
        }
    }

    private static EmbeddedKafkaCluster StartKafka()
    {
        var kafka = EmbeddedKafkaCluster.Start(1);
        kafka.CreateTopic("P_USERS", 4);
        return kafka;
    }

    private ServiceProcess StartSource(string postgres, EmbeddedKafkaCluster kafka, string slot, params (string Key, string Value)[] settings)
    {
        var environment = new Dictionary<string, string?>
        {
            ["ConnectionStrings__usersdb"] = postgres,
            ["ConnectionStrings__kafka"] = kafka.BootstrapServers,
            ["Source__Slot"] = slot,
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            ["Logging__Console__FormatterName"] = "simple",
            ["Logging__Console__FormatterOptions__SingleLine"] = "true",
        };
        foreach (var (key, value) in settings) environment[key] = value;
        return ServiceProcess.Start("SourceService", environment, output);
    }

    private static async Task ExecuteAsync(string cs, string sql)
    {
        await using var connection = new NpgsqlConnection(cs);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<object?> ScalarAsync(string cs, string sql)
    {
        await using var connection = new NpgsqlConnection(cs);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        return await cmd.ExecuteScalarAsync();
    }
}
