using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Pipeline;
using KafkaPipeline.Shared;
using Npgsql;
using NpgsqlTypes;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineConvergence;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Cdc;

/// <summary>The Cdc source under faults of its own: refused deliveries, lost slots, changed topics, frozen leaders.</summary>
[Collection(PipelineCollection.Name)]
public sealed class SourceFaultTests(ITestOutputHelper output)
{
    private static readonly (string, string?) FastHeartbeat = ("Source:HeartbeatInterval", "00:00:01");

    [Fact]
    public async Task An_event_kafka_refuses_is_never_confirmed_to_postgres_and_arrives_once_when_kafka_accepts_it_again()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.StartGenerator(totalCount: 10, ratePerSecond: 1_000, maxBatchSize: 10);
        await h.WaitForGeneratorAsync(Patience);
        var source = h.Start(PipelineHarness.Source, FastHeartbeat);
        await source.WaitForOutputAsync("streams to this source", Patience);
        await WaitUntilAsync("the snapshot in Kafka", async () => (await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic)).Count == 10,
            Patience, () => Task.FromResult("waiting"));

        // Every Produce request fails for a while with an error no producer retries by itself.
        h.Cluster.PushRequestErrors(KafkaApiKey.Produce, Enumerable.Repeat(KafkaErrorCode.TopicAuthorizationFailed, 20).ToArray());
        var before = await CurrentLsnAsync(h.Postgres);
        await ExecuteAsync(h.Postgres, "UPDATE users SET job = 'refused once' WHERE id = 3");
        await source.WaitForOutputAsync("Kafka refuses an event", Patience);
        // Heartbeats keep coming, but nothing at or after the refused transaction may be confirmed.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.True(await ConfirmedAsync(h.Postgres) <= before, "the slot was confirmed past an event Kafka refused");

        h.Cluster.ClearRequestErrors(KafkaApiKey.Produce);
        await WaitUntilAsync("the refused update in Kafka", async () =>
            (await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic)).Any(m => m.User?.Job == "refused once"), Patience, () => Task.FromResult("not yet"));
        await WaitUntilAsync("the slot confirmed past it", async () => await ConfirmedAsync(h.Postgres) > before, Patience, () => Task.FromResult("not yet"));
        var messages = await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic);
        Assert.Single(messages, m => m.User?.Job == "refused once");
        Assert.Equal(11, messages.Count);
        // The source backed off rather than starting over several times a second.
        Assert.InRange(source.Output.Split("Kafka refuses an event").Length - 1, 1, 6);
    }

    private static async Task<ulong> ConfirmedAsync(string connectionString) =>
        (ulong)await ScalarAsync<NpgsqlLogSequenceNumber>(connectionString,
            "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE database = current_database()");

    private static async Task<ulong> CurrentLsnAsync(string connectionString) =>
        (ulong)await ScalarAsync<NpgsqlLogSequenceNumber>(connectionString, "SELECT pg_current_wal_insert_lsn()");

    private static async Task<T> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task ExecuteAsync(string connectionString, params string[] statements)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        foreach (var sql in statements)
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            await cmd.ExecuteNonQueryAsync();
        }
    }
}
