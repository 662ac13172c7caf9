using System.Globalization;
using Amazon.S3;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Customers;
using MySqlConnector;
using Npgsql;

namespace KafkaPipeline.Monitor;

/// <summary>A replication slot of the source database and the WAL it keeps PostgreSQL from recycling.</summary>
public sealed record SlotWal(string Slot, bool Active, long? RetainedBytes);

/// <summary>What each store holds right now, read from the stores themselves.</summary>
public sealed record StatusSnapshot(
    long? PostgresUsers, long? TopicMessages, long? Customers, long? MySqlRows, long? S3Records, long? S3Objects, long? DeadLetters,
    double? LatestLatencyMs, IReadOnlyList<CountryCount> TopCountries, IReadOnlyList<SlotWal>? Slots)
{
    public string ToLine()
    {
        static string N(long? v) => v?.ToString("N0", CultureInfo.InvariantCulture) ?? "?";
        var top = string.Join(", ", TopCountries.Select(r => $"{r.Country} {r.Customers}"));
        var slots = Slots is null ? "?" : Slots.Count == 0 ? "none"
            : string.Join(", ", Slots.Select(s => $"{s.Slot} {(s.RetainedBytes is { } b ? Bytes(b) : "?")} WAL retained{(s.Active ? "" : " (inactive)")}"));
        return $"users in PostgreSQL {N(PostgresUsers)} | P_USERS {N(TopicMessages)} msgs, {N(Customers)} customers | MySQL {N(MySqlRows)} rows | " +
               $"S3 {N(S3Records)} records in {N(S3Objects)} objects | DLQ {N(DeadLetters)} | " +
               $"latest e2e PG->MySQL {(LatestLatencyMs is { } l ? l.ToString("F0", CultureInfo.InvariantCulture) + " ms" : "?")} | slot {slots}" +
               (top.Length > 0 ? $" | top sign-up countries: {top}" : "");
    }

    private static string Bytes(long b) => b switch
    {
        < 1024 => $"{b} B",
        < 1024 * 1024 => (b / 1024.0).ToString("F1", CultureInfo.InvariantCulture) + " kB",
        < 1024L * 1024 * 1024 => (b / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) + " MB",
        _ => (b / 1073741824.0).ToString("F2", CultureInfo.InvariantCulture) + " GB",
    };
}

/// <summary>
/// Reads the status; a store that is down shows as "?" rather than stopping the screen. Nothing here grows with the
/// data per read: the bucket is read incrementally (<see cref="LakeProgress"/>), the countries come from the topic
/// reader's running tally (the Dashboard's <see cref="CustomerTally"/>) instead of a GROUP BY over the table, and the
/// remaining queries are a count and single-row lookups.
/// </summary>
public sealed class PipelineStatus(
    NpgsqlDataSource postgres, KafkaClients kafka, string mysql, IAmazonS3 s3, LakeProgress lake, CustomerTally customers, string topic, string table)
    : IDisposable
{
    private readonly IConsumer<byte[], byte[]> _consumer = kafka.Consumer<byte[], byte[]>("pipeline-monitor", "pipeline-monitor").Build();

    public async Task<StatusSnapshot> ReadAsync(CancellationToken ct)
    {
        var t = SqlIdentifier.QuotePostgres(table);
        var users = await Try(async () =>
        {
            await using var conn = await postgres.OpenConnectionAsync(ct);
            await using var cmd = new NpgsqlCommand($"SELECT count(*) FROM {t}", conn);
            return (long?)(long)(await cmd.ExecuteScalarAsync(ct))!;
        });
        var slots = await Try(() => SlotsAsync(ct));
        var (rows, latency) = await TryPair(async () =>
        {
            await using var conn = new MySqlConnection(mysql);
            await conn.OpenAsync(ct);
            var m = SqlIdentifier.QuoteMySql(table);
            await using var count = new MySqlCommand($"SELECT count(*) FROM {m}", conn);
            var n = Convert.ToInt64(await count.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
            await using var last = new MySqlCommand(
                $"SELECT TIMESTAMPDIFF(MICROSECOND, updated_at, synced_at) FROM {m} ORDER BY synced_at DESC LIMIT 1", conn);
            var micros = await last.ExecuteScalarAsync(ct);
            return ((long?)n, micros is null or DBNull ? (double?)null : Convert.ToDouble(micros, CultureInfo.InvariantCulture) / 1000);
        });
        var messages = await Try(() => Task.FromResult((long?)CountMessages(topic)));
        var dlq = await Try(() => Task.FromResult((long?)CountMessages(TopicNames.DeadLetter(topic))));
        var (records, objects) = await TryPair(async () =>
        {
            var (r, o) = await lake.RefreshAsync(ct);
            return ((long?)r, (long?)o);
        });
        var tally = customers.Snapshot();
        return new StatusSnapshot(users, messages, tally.Customers, rows, records, objects, dlq, latency, [.. tally.Countries.Take(3)], slots);
    }

    /// <summary>
    /// The source database's replication slots and the WAL each holds back (PostgreSQL keeps every segment after the
    /// slot's restart_lsn). pg_replication_slots is readable by any role; without a slot the list is empty.
    /// Measured to the WAL insert position: with synchronous_commit=off the write position lags what is already logged.
    /// </summary>
    private async Task<IReadOnlyList<SlotWal>?> SlotsAsync(CancellationToken ct)
    {
        await using var conn = await postgres.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(
            """
            SELECT slot_name, active, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), restart_lsn)::bigint
            FROM pg_replication_slots WHERE database = current_database() ORDER BY slot_name
            """, conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var slots = new List<SlotWal>();
        while (await reader.ReadAsync(ct))
            slots.Add(new SlotWal(reader.GetString(0), reader.GetBoolean(1), reader.IsDBNull(2) ? null : reader.GetInt64(2)));
        return slots;
    }

    private long CountMessages(string name)
    {
        using var admin = new DependentAdminClientBuilder(_consumer.Handle).Build();
        var metadata = admin.GetMetadata(name, TimeSpan.FromSeconds(2));
        return metadata.Topics.SelectMany(x => x.Partitions).Sum(p =>
        {
            var w = _consumer.QueryWatermarkOffsets(new TopicPartition(name, p.PartitionId), TimeSpan.FromSeconds(2));
            return w.High.Value - w.Low.Value;
        });
    }

    private static async Task<T?> Try<T>(Func<Task<T?>> read)
    {
        try { return await read(); }
        catch (Exception) { return default; }
    }

    private static async Task<(T1?, T2?)> TryPair<T1, T2>(Func<Task<(T1, T2)>> read)
    {
        try { return await read(); }
        catch (Exception) { return default; }
    }

    public void Dispose()
    {
        s3.Dispose();
        _consumer.Dispose();
    }
}
