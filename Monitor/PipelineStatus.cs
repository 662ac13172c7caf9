using System.Globalization;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Customers;
using MySqlConnector;
using Npgsql;

namespace KafkaPipeline.Monitor;

/// <summary>A replication slot of the source database and the WAL it keeps PostgreSQL from recycling.</summary>
public sealed record SlotWal(string Slot, bool Active, long? RetainedBytes);

/// <summary>How far one sink's consumer group is behind on one topic: messages it has not committed (null: unknown).</summary>
public sealed record GroupLag(string Group, long? Lag);

/// <summary>One table the status follows, where its rows go: its topic, the sink's MySQL table, its folder in the lake.</summary>
public sealed record MonitoredTable(TableName Table, string Topic, LakeProgress Lake)
{
    public string DeadLetterTopic => TopicNames.DeadLetter(Topic);

    /// <summary>The MySQL sink's table: the same name (schema_table outside public, as the topic names it).</summary>
    public string MySqlTable => Table.Schema is null or "public" ? Table.Name : $"{Table.Schema}_{Table.Name}";
}

/// <summary>What each store holds of one table right now ("?" for a store that did not answer).</summary>
public sealed record TableStatus(
    string Table, string Topic, long? PostgresRows, long? TopicMessages, long? DeadLetters, long? MySqlRows, long? LakeRecords,
    long? LakeObjects, IReadOnlyList<GroupLag> Lag);

/// <summary>What only the users table has: its customers and countries (from the topic) and the latest end-to-end latency.</summary>
public sealed record UsersStatus(string Table, long Customers, double? LatestLatencyMs, IReadOnlyList<CountryCount> TopCountries);

/// <summary>The whole status: a line per table, the users' extras on the users table's line, and a line for the slots.</summary>
public sealed record StatusSnapshot(IReadOnlyList<TableStatus> Tables, UsersStatus? Users, IReadOnlyList<SlotWal>? Slots)
{
    public TableStatus Of(string table) => Tables.Single(t => t.Table == table);

    public IEnumerable<string> ToLines()
    {
        foreach (var t in Tables)
        {
            var line = $"{t.Table}: PostgreSQL {N(t.PostgresRows)} rows | {t.Topic} {N(t.TopicMessages)} msgs, DLQ {N(t.DeadLetters)} | " +
                       $"MySQL {N(t.MySqlRows)} rows | S3 {N(t.LakeRecords)} records in {N(t.LakeObjects)} objects | " +
                       $"lag {string.Join(", ", t.Lag.Select(g => $"{g.Group} {N(g.Lag)}"))}";
            if (Users is { } u && u.Table == t.Table)
            {
                var top = string.Join(", ", u.TopCountries.Select(r => $"{r.Country} {r.Customers}"));
                line += $" | {N(u.Customers)} customers | latest e2e PG->MySQL " +
                        (u.LatestLatencyMs is { } l ? l.ToString("F0", CultureInfo.InvariantCulture) + " ms" : "?") +
                        (top.Length > 0 ? $" | top sign-up countries: {top}" : "");
            }
            yield return line;
        }
        yield return "slot " + (Slots is null ? "?" : Slots.Count == 0 ? "none"
            : string.Join(", ", Slots.Select(s => $"{s.Slot} {(s.RetainedBytes is { } b ? Bytes(b) : "?")} WAL retained{(s.Active ? "" : " (inactive)")}")));
    }

    private static string N(long? v) => v?.ToString("N0", CultureInfo.InvariantCulture) ?? "?";

    private static string Bytes(long b) => b switch
    {
        < 1024 => $"{b} B",
        < 1024 * 1024 => (b / 1024.0).ToString("F1", CultureInfo.InvariantCulture) + " kB",
        < 1024L * 1024 * 1024 => (b / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) + " MB",
        _ => (b / 1073741824.0).ToString("F2", CultureInfo.InvariantCulture) + " GB",
    };
}

/// <summary>
/// Reads the status of every table of Pipeline:Tables; a store that is down, or a table one store does not have yet,
/// shows as "?" rather than stopping the screen. Nothing here grows with the data per read but the row counts: the
/// bucket is read incrementally per topic (<see cref="LakeProgress"/>), the countries come from the topic reader's running
/// tally (the Dashboard's <see cref="CustomerTally"/>) instead of a GROUP BY over the table, Kafka answers a metadata
/// request, two offset listings and one offset fetch per group for all topics at once, and the latency is a
/// single-row lookup.
/// </summary>
public sealed class PipelineStatus(
    NpgsqlDataSource postgres, KafkaClients kafka, string mysql, IReadOnlyList<MonitoredTable> tables, IReadOnlyList<string> groups,
    string usersTopic, CustomerTally customers)
    : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(2);
    private readonly IAdminClient _admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = kafka.BootstrapServers, SocketTimeoutMs = 10_000 })
        .SetLogHandler((_, _) => { }).Build();

    public async Task<StatusSnapshot> ReadAsync(CancellationToken ct)
    {
        var pgRows = await TryAsync(() => CountPostgresAsync(ct)) ?? [];
        var slots = await TryAsync(() => SlotsAsync(ct));
        var mysqlRows = await TryAsync(() => CountMySqlAsync(ct)) ?? [];
        var offsets = await TryAsync(() => KafkaAsync(ct));
        var users = tables.FirstOrDefault(t => t.Topic == usersTopic);
        var statuses = new List<TableStatus>();
        foreach (var t in tables)
        {
            var lake = await TryAsync(async () => ((long Records, long Objects)?)await t.Lake.RefreshAsync(ct));
            statuses.Add(new TableStatus(t.Table.ToString(), t.Topic, pgRows.GetValueOrDefault(t.Table.ToString()),
                offsets?.Messages(t.Topic), offsets?.Messages(t.DeadLetterTopic), mysqlRows.GetValueOrDefault(t.MySqlTable),
                lake?.Records, lake?.Objects, [.. groups.Select(g => new GroupLag(g, offsets?.Lag(g, t.Topic)))]));
        }
        UsersStatus? usersStatus = null;
        if (users is not null)
        {
            var latency = await TryAsync(() => LatestLatencyAsync(users.MySqlTable, ct));
            var tally = customers.Snapshot();
            usersStatus = new UsersStatus(users.Table.ToString(), tally.Customers, latency, [.. tally.Countries.Take(3)]);
        }
        return new StatusSnapshot(statuses, usersStatus, slots);
    }

    /// <summary>Rows of each table in PostgreSQL; a table that does not exist (yet) is left out.</summary>
    private async Task<Dictionary<string, long?>> CountPostgresAsync(CancellationToken ct)
    {
        await using var conn = await postgres.OpenConnectionAsync(ct);
        var counts = new Dictionary<string, long?>();
        foreach (var t in tables)
        {
            var name = t.Table.Schema is { } schema
                ? $"{SqlIdentifier.QuotePostgres(schema)}.{SqlIdentifier.QuotePostgres(t.Table.Name)}"
                : SqlIdentifier.QuotePostgres(t.Table.Name);
            await using var cmd = new NpgsqlCommand($"SELECT count(*) FROM {name}", conn);
            counts[t.Table.ToString()] = await TryAsync(async () => (long?)(long)(await cmd.ExecuteScalarAsync(ct))!);
        }
        return counts;
    }

    /// <summary>Rows of each table's MySQL table; one the sink has not created (yet) is left out.</summary>
    private async Task<Dictionary<string, long?>> CountMySqlAsync(CancellationToken ct)
    {
        await using var conn = new MySqlConnection(mysql);
        await conn.OpenAsync(ct);
        var counts = new Dictionary<string, long?>();
        foreach (var t in tables)
        {
            await using var cmd = new MySqlCommand($"SELECT count(*) FROM {SqlIdentifier.QuoteMySql(t.MySqlTable)}", conn);
            counts[t.MySqlTable] = await TryAsync(async () => (long?)Convert.ToInt64(await cmd.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture));
        }
        return counts;
    }

    /// <summary>The latest row's PostgreSQL updated_at to its MySQL synced_at (the sink's column, indexed), in ms.</summary>
    private async Task<double?> LatestLatencyAsync(string table, CancellationToken ct)
    {
        await using var conn = new MySqlConnection(mysql);
        await conn.OpenAsync(ct);
        await using var last = new MySqlCommand(
            $"SELECT TIMESTAMPDIFF(MICROSECOND, updated_at, synced_at) FROM {SqlIdentifier.QuoteMySql(table)} ORDER BY synced_at DESC LIMIT 1", conn);
        var micros = await last.ExecuteScalarAsync(ct);
        return micros is null or DBNull ? null : Convert.ToDouble(micros, CultureInfo.InvariantCulture) / 1000;
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

    /// <summary>The watermarks of every pipeline topic's partitions and what each group has committed on them.</summary>
    private async Task<KafkaPositions> KafkaAsync(CancellationToken ct)
    {
        var names = tables.SelectMany(t => new[] { t.Topic, t.DeadLetterTopic }).ToHashSet(StringComparer.Ordinal);
        var metadata = await Task.Run(() => _admin.GetMetadata(s_timeout), ct);
        var partitions = metadata.Topics.Where(t => names.Contains(t.Topic) && t.Error.Code == ErrorCode.NoError)
            .SelectMany(t => t.Partitions.Select(p => new TopicPartition(t.Topic, p.PartitionId))).ToList();
        var marks = await KafkaOffsets.WatermarksAsync(_admin, partitions, s_timeout);
        var tablePartitions = partitions.Where(p => tables.Any(t => t.Topic == p.Topic)).ToList();
        var committed = new Dictionary<string, List<TopicPartitionOffset>?>();
        foreach (var group in tablePartitions.Count == 0 ? [] : groups) // no partition named: OffsetFetch would list all
            committed[group] = await TryAsync(() => KafkaOffsets.CommittedAsync(_admin, group, tablePartitions, s_timeout));
        return new KafkaPositions(marks, committed);
    }

    private sealed record KafkaPositions(Dictionary<TopicPartition, (long Low, long High)> Marks, Dictionary<string, List<TopicPartitionOffset>?> Committed)
    {
        /// <summary>Messages the topic holds; null for a topic that does not exist.</summary>
        public long? Messages(string topic)
        {
            var parts = Marks.Where(m => m.Key.Topic == topic).ToList();
            return parts.Count == 0 ? null : parts.Sum(m => m.Value.High - m.Value.Low);
        }

        /// <summary>What the group has not committed of the topic; a partition it never committed on counts whole.</summary>
        public long? Lag(string group, string topic)
        {
            if (Committed.GetValueOrDefault(group) is not { } committed || Messages(topic) is null) return null;
            return Marks.Where(m => m.Key.Topic == topic).Sum(m =>
            {
                var at = committed.FirstOrDefault(c => c.TopicPartition == m.Key)?.Offset.Value ?? m.Value.Low;
                return Math.Max(0, m.Value.High - Math.Max(at, m.Value.Low));
            });
        }
    }

    private static async Task<T?> TryAsync<T>(Func<Task<T>> read)
    {
        try { return await read(); }
        catch (Exception) { return default; }
    }

    public void Dispose() => _admin.Dispose();
}
