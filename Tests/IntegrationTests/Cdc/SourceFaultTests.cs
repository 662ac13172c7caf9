using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Pipeline;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
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
        await TestServers.ExecutePostgresAsync(h.Postgres, "UPDATE users SET job = 'refused once' WHERE id = 3");
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

    [Fact]
    public async Task Events_of_an_older_history_with_higher_lsns_never_hide_the_new_history_s_changes()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.StartGenerator(totalCount: 5, ratePerSecond: 1_000, maxBatchSize: 5);
        await h.WaitForGeneratorAsync(Patience);
        // What a source wrote before a restore (or on another cluster): streamed events far ahead in the log, in every partition.
        var old = new SourceEpoch(1, 1234, 1, 0x100);
        using (var producer = new Confluent.Kafka.ProducerBuilder<byte[], byte[]?>(KafkaSettings.Producer(h.Bootstrap, "old-history")).Build())
        {
            var keys = Enumerable.Range(9_000, 200).Select(i => UsersEvents.Key(i))
                .GroupBy(k => Murmur2Partitioner.Partition(k, PipelineHarness.Partitions)).Select(g => g.First()).ToList();
            Assert.Equal(PipelineHarness.Partitions, keys.Count);
            foreach (var key in keys)
            {
                var headers = new Confluent.Kafka.Headers();
                ChangeHeaders.Write(headers, new ChangeMetadata(ChangeOp.Update, new SourceVersion(0xFF_0000_0000, 0xFF_0000_0000), DateTime.UtcNow, 0,
                    "public.users", 1, old));
                await producer.ProduceAsync(new Confluent.Kafka.TopicPartition(PipelineHarness.Topic, Murmur2Partitioner.Partition(key, PipelineHarness.Partitions)),
                    new Confluent.Kafka.Message<byte[], byte[]?> { Key = key, Value = null, Headers = headers });
            }
        }

        var source = h.Start(PipelineHarness.Source, FastHeartbeat);
        await source.WaitForOutputAsync("streams to this source", Patience);
        h.StartGenerator(totalCount: 40, ratePerSecond: 1_000, maxBatchSize: 4);
        await h.WaitForGeneratorAsync(Patience);
        await WaitUntilAsync("every user's row in the new history", async () =>
            (await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic)).Where(m => m.User is not null).Select(m => m.User!.Id).Distinct().Count() == 45,
            Patience, async () => $"{(await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic)).Count(m => m.User is not null)} rows");
        var messages = await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic);
        Assert.All(messages.Where(m => m.User is not null), m => Assert.Equal(2, ChangeHeaders.ReadEpoch(m.Headers).Ordinal));
        Assert.Equal(45, messages.Count(m => m.User is not null)); // each once
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
}
