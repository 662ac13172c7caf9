using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.IntegrationTests.Pipeline;
using Npgsql;
using NpgsqlTypes;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Cdc;

/// <summary>Waits for the CDC source by asking PostgreSQL how far the slot is confirmed (no sleeps).</summary>
public static class CdcConvergence
{
    public static async Task<ulong> CurrentLsnAsync(string connectionString) =>
        (ulong)(NpgsqlLogSequenceNumber)(await ScalarAsync(connectionString, "SELECT pg_current_wal_lsn()"))!;

    /// <summary>The slot's confirmed flush LSN: Kafka acknowledged every change committed before it.</summary>
    public static async Task<ulong> ConfirmedAsync(string connectionString) =>
        await ScalarAsync(connectionString, "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE database = current_database()")
            is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : 0;

    /// <summary>The slot's restart LSN: PostgreSQL keeps the WAL from there on.</summary>
    public static async Task<ulong> RestartLsnAsync(string connectionString) =>
        await ScalarAsync(connectionString, "SELECT restart_lsn FROM pg_replication_slots WHERE database = current_database()")
            is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : 0;

    /// <summary>
    /// Writes a marker into the log (a non-transactional logical message, as the heartbeat does) and waits until the slot
    /// is confirmed past it: then Kafka holds every change committed before this call.
    /// </summary>
    public static async Task WaitForSourceAsync(PipelineHarness h)
    {
        // A new slot is confirmed up to its consistent point from the start, before its snapshot is in Kafka: wait for the
        // source to record the snapshot as complete first.
        await WaitUntilAsync("the source's initial snapshot to be complete in Kafka", SnapshotCompleteAsync, PipelineConvergence.Patience,
            async () => $"{await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic)} messages in P_USERS",
            TimeSpan.FromMilliseconds(500));
        var marker = (ulong)(NpgsqlLogSequenceNumber)(await ScalarAsync(h.Postgres, "SELECT pg_logical_emit_message(false, 'kafkapipeline.test', '')"))!;
        await WaitUntilAsync($"the source to confirm the log up to the marker {new NpgsqlLogSequenceNumber(marker)}",
            async () => await ConfirmedAsync(h.Postgres) >= marker, PipelineConvergence.Patience,
            async () => $"slot confirmed up to {new NpgsqlLogSequenceNumber(await ConfirmedAsync(h.Postgres))}, " +
                        $"{await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic)} messages in P_USERS",
            TimeSpan.FromMilliseconds(500));

        async Task<bool> SnapshotCompleteAsync()
        {
            try
            {
                return (long)(await ScalarAsync(h.Postgres, "SELECT count(*) FROM kafka_pipeline_cdc_state"))! > 0;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
            {
                return false;
            }
        }
    }

    private static async Task<object?> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        return await cmd.ExecuteScalarAsync();
    }
}
