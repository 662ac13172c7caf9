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
        var marker = (ulong)(NpgsqlLogSequenceNumber)(await ScalarAsync(h.Postgres, "SELECT pg_logical_emit_message(false, 'kafkapipeline.test', '')"))!;
        // Not the slot's position alone: a slot created after the marker (a new history) is confirmed past it from the
        // start, before its snapshot is in Kafka. The source records a position in its state table, for its current
        // slot only, once Kafka holds everything before it (the snapshot completes with its consistent point).
        await WaitUntilAsync($"the source to confirm the log up to the marker {new NpgsqlLogSequenceNumber(marker)}",
            async () => await RecordedAsync(h.Postgres) >= marker && await ConfirmedAsync(h.Postgres) >= marker, PipelineConvergence.Patience,
            async () => $"slot confirmed up to {new NpgsqlLogSequenceNumber(await ConfirmedAsync(h.Postgres))}, " +
                        $"state table up to {new NpgsqlLogSequenceNumber(await RecordedAsync(h.Postgres))}, " +
                        $"{await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic)} messages in P_USERS",
            TimeSpan.FromMilliseconds(500));

        static async Task<ulong> RecordedAsync(string connectionString)
        {
            try
            {
                return await ScalarAsync(connectionString, "SELECT max(confirmed_lsn) FROM kafka_pipeline_cdc_state") is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : 0;
            }
            // Not there yet: the source creates its state table, then adds the newer columns.
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.UndefinedColumn)
            {
                return 0;
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
