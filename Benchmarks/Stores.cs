using System.Globalization;
using Amazon.S3;
using Amazon.S3.Model;
using Confluent.Kafka;
using KafkaPipeline.S3SinkService;
using KafkaPipeline.Shared;
using MySqlConnector;
using Npgsql;

namespace KafkaPipeline.Benchmarks;

/// <summary>A row as PostgreSQL holds it: the commit time of the transaction that wrote it is the latency's start.</summary>
public readonly record struct PgRow(long Id, DateTime CommittedAt, DateTime UpdatedAt);

/// <summary>What the benchmark reads from PostgreSQL: ids and commit times, all computed by the server.</summary>
public sealed class PgStore(NpgsqlDataSource db, string table)
{
    private readonly string _table = SqlIdentifier.QuotePostgres(table);

    public async Task<long> CountAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"SELECT count(*) FROM {_table}");
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    public async Task<long> MaxIdAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"SELECT coalesce(max(id), 0) FROM {_table}");
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// True when PostgreSQL records commit timestamps (track_commit_timestamp=on, set by eng/servers.sh); otherwise the
    /// rows' updated_at (the writing transaction's start) is the best the store knows.
    /// </summary>
    public async Task<bool> TracksCommitTimeAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT current_setting('track_commit_timestamp') = 'on'");
        return (bool)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Rows with id &gt; <paramref name="afterId"/>: commit time (or updated_at when not tracked) and updated_at.</summary>
    public async Task<List<PgRow>> RowsAfterAsync(long afterId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            $"SELECT id, coalesce(pg_xact_commit_timestamp(xmin), updated_at), updated_at FROM {_table} WHERE id > @after ORDER BY id");
        cmd.Parameters.AddWithValue("after", afterId);
        var rows = new List<PgRow>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            rows.Add(new PgRow(reader.GetInt64(0), reader.GetFieldValue<DateTime>(1), reader.GetFieldValue<DateTime>(2)));
        return rows;
    }
}

/// <summary>A row as the MySQL sink wrote it; synced_at is set by MySQL (UTC_TIMESTAMP(6)) in the writing statement.</summary>
public readonly record struct MySqlRow(long Id, DateTime UpdatedAt, DateTime SyncedAt);

public sealed class MySqlStore(string connectionString, string table)
{
    private readonly string _table = SqlIdentifier.QuoteMySql(table);

    /// <summary>count(*) and count(DISTINCT id) of rows with id &gt; afterId; (0, 0) while the sink has not created the table.</summary>
    public async Task<(long Rows, long DistinctIds)> CountAsync(long afterId, CancellationToken ct)
    {
        await using var conn = new MySqlConnection(connectionString);
        await conn.OpenAsync(ct);
        await using var cmd = new MySqlCommand($"SELECT COUNT(*), COUNT(DISTINCT id) FROM {_table} WHERE id > @after", conn);
        cmd.Parameters.AddWithValue("@after", afterId);
        try
        {
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            await reader.ReadAsync(ct);
            return (reader.GetInt64(0), reader.GetInt64(1));
        }
        catch (MySqlException e) when (e.Number == 1146) // the sink creates the table at start
        {
            return (0, 0);
        }
    }

    public async Task<List<MySqlRow>> RowsAfterAsync(long afterId, CancellationToken ct)
    {
        await using var conn = new MySqlConnection(connectionString);
        await conn.OpenAsync(ct);
        await using var cmd = new MySqlCommand($"SELECT id, updated_at, synced_at FROM {_table} WHERE id > @after ORDER BY id", conn);
        cmd.Parameters.AddWithValue("@after", afterId);
        var rows = new List<MySqlRow>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rows.Add(new MySqlRow(reader.GetInt64(0),
                DateTime.SpecifyKind(reader.GetDateTime(1), DateTimeKind.Utc),
                DateTime.SpecifyKind(reader.GetDateTime(2), DateTimeKind.Utc)));
        }
        return rows;
    }
}

/// <summary>High watermarks of a topic (the broker's count of what it holds) and its messages' timestamps.</summary>
public sealed class KafkaStore : IDisposable
{
    private readonly IConsumer<Ignore, Ignore> _marks;
    private readonly string _bootstrap;

    public KafkaStore(string bootstrap, string topic, int partitions)
    {
        _bootstrap = bootstrap;
        Topic = topic;
        Partitions = partitions;
        _marks = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = "kp-bench-watermarks", // required by the client, never joined
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();
    }

    public string Topic { get; }
    public int Partitions { get; }

    /// <summary>The scratch topics the record sizes are measured in (created by the runner: the embedded Kafka creates no topic by itself).</summary>
    public static string SizesTopic(Confluent.Kafka.CompressionType compression) => $"BENCH_SIZES_{compression}".ToUpperInvariant();

    public long[] HighWatermarks() =>
        Enumerable.Range(0, Partitions)
            .Select(p => _marks.QueryWatermarkOffsets(new TopicPartition(Topic, p), TimeSpan.FromSeconds(10)).High.Value)
            .Select(h => Math.Max(0, h))
            .ToArray();

    public long Count() => HighWatermarks().Sum();

    /// <summary>
    /// Reads [from, to) of every partition and returns id -> message timestamp. The timestamp is the record's
    /// CreateTime, set by the source's producer: used only to split the latency into source and sink parts.
    /// </summary>
    public Dictionary<long, DateTime> ReadTimestamps(long[] from, long[] to, CancellationToken ct)
    {
        var result = new Dictionary<long, DateTime>();
        using var consumer = new ConsumerBuilder<byte[], Ignore>(new ConsumerConfig
        {
            BootstrapServers = _bootstrap,
            GroupId = "kp-bench-reader",
            EnableAutoCommit = false,
            EnablePartitionEof = true,
        }).SetLogHandler((_, _) => { }).Build();
        var left = Enumerable.Range(0, Partitions).Where(p => to[p] > from[p]).ToHashSet();
        consumer.Assign(left.Select(p => new TopicPartitionOffset(Topic, p, from[p])));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (left.Count > 0 && DateTime.UtcNow < deadline)
        {
            ct.ThrowIfCancellationRequested();
            var r = consumer.Consume(TimeSpan.FromMilliseconds(500));
            if (r is null) continue;
            var p = r.Partition.Value;
            if (!r.IsPartitionEOF && r.Offset.Value < to[p])
            {
                var id = long.Parse(System.Text.Encoding.UTF8.GetString(r.Message.Key), CultureInfo.InvariantCulture);
                result[id] = r.Message.Timestamp.UtcDateTime;
            }
            if (r.IsPartitionEOF || r.Offset.Value + 1 >= to[p]) left.Remove(p);
        }
        consumer.Close();
        return result;
    }

    /// <summary>
    /// The average size of the first <paramref name="max"/> records of partition 0 as the source produced them (before
    /// the producer's compression): key, value (of which the schema part), headers.
    /// </summary>
    public TopicRecordSize SampleRecordSizes(int max, CancellationToken ct)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = _bootstrap,
            GroupId = "kp-bench-sizes",
            EnableAutoCommit = false,
            EnablePartitionEof = true,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Assign(new TopicPartitionOffset(Topic, 0, 0));
        long n = 0, key = 0, value = 0, schema = 0, headers = 0;
        var sampled = new List<Message<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (n < max && DateTime.UtcNow < deadline)
        {
            ct.ThrowIfCancellationRequested();
            var r = consumer.Consume(TimeSpan.FromMilliseconds(500));
            if (r is null) continue;
            if (r.IsPartitionEOF) break;
            n++;
            key += r.Message.Key?.Length ?? 0;
            value += r.Message.Value?.Length ?? 0;
            schema += SchemaBytes(r.Message.Value);
            headers += r.Message.Headers.Sum(h => h.Key.Length + (h.GetValueBytes()?.Length ?? 0));
            sampled.Add(new Message<byte[]?, byte[]?> { Key = r.Message.Key, Value = r.Message.Value, Headers = r.Message.Headers });
        }
        consumer.Close();
        if (n == 0) return new TopicRecordSize(0, 0, 0, 0, 0);
        return new TopicRecordSize((int)n, Math.Round((double)key / n, 1), Math.Round((double)value / n, 1), Math.Round((double)schema / n, 1), Math.Round((double)headers / n, 1))
        {
            WireBytesUncompressed = WireBytesPerRecord(sampled, Confluent.Kafka.CompressionType.None, ct),
            WireBytesLz4 = WireBytesPerRecord(sampled, Confluent.Kafka.CompressionType.Lz4, ct),
        };
    }

    /// <summary>
    /// Bytes per record the source's producer settings send to the broker (librdkafka's tx_bytes: batches, compression
    /// and protocol included) when producing <paramref name="records"/> again into a scratch topic with <paramref name="compression"/>.
    /// </summary>
    private double? WireBytesPerRecord(List<Message<byte[]?, byte[]?>> records, Confluent.Kafka.CompressionType compression, CancellationToken ct)
    {
        var config = KafkaSettings.Producer(_bootstrap, "kp-bench-sizes");
        config.CompressionType = compression;
        config.StatisticsIntervalMs = 100;
        config.MessageTimeoutMs = 30_000;
        long txBytes = -1;
        var flushed = false;
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(config)
            .SetLogHandler((_, _) => { })
            .SetStatisticsHandler((_, json) =>
            {
                if (!Volatile.Read(ref flushed)) return;
                using var stats = System.Text.Json.JsonDocument.Parse(json);
                Interlocked.Exchange(ref txBytes, stats.RootElement.GetProperty("tx_bytes").GetInt64());
            })
            .Build();
        var failed = 0;
        foreach (var m in records) producer.Produce(SizesTopic(compression), m, d => { if (d.Error.IsError) Interlocked.Increment(ref failed); });
        if (producer.Flush(TimeSpan.FromSeconds(60)) > 0 || failed > 0) return null;
        ct.ThrowIfCancellationRequested();
        Volatile.Write(ref flushed, true);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Interlocked.Read(ref txBytes) < 0 && DateTime.UtcNow < deadline) Thread.Sleep(50);
        return txBytes < 0 ? null : Math.Round((double)Interlocked.Read(ref txBytes) / records.Count, 1);
    }

    /// <summary>The bytes of the envelope's "schema" member (the same for every event of one table version).</summary>
    private static long SchemaBytes(byte[]? value)
    {
        if (value is null) return 0;
        using var doc = System.Text.Json.JsonDocument.Parse(value);
        return doc.RootElement.TryGetProperty("schema", out var schema) ? System.Text.Encoding.UTF8.GetByteCount(schema.GetRawText()) : 0;
    }

    public void Dispose() => _marks.Dispose();
}

/// <summary>An object of the sink's bucket, as the store holds it.</summary>
public sealed record S3Object(string Key, int Partition, long StartOffset, long ClaimedRecords, DateTime StoredAt, long Bytes)
{
    /// <summary>Ids of the object's JSON lines, once read (null before <see cref="S3Inventory.LoadContentsAsync"/>).</summary>
    public List<long>? Ids { get; set; }
}

/// <summary>
/// The sink's bucket: keys (listing), record counts (the x-amz-meta-record-count the sink wrote, for progress only),
/// contents (the lines themselves, for every check and figure) and stored times.
/// Stored time: the modification time of s3rver's metadata file for the object, which s3rver writes last, just before
/// it answers the PUT (the store's own clock, sub-millisecond). Without s3rver's folder: LastModified (whole seconds).
/// </summary>
public sealed class S3Inventory(IAmazonS3 s3, string bucket, string prefix, string? s3DataDir)
{
    private readonly Dictionary<string, S3Object> _objects = new(StringComparer.Ordinal);

    public IReadOnlyCollection<S3Object> Objects => _objects.Values;

    private int _secondsOnly;

    public string StoredTimeSource => s3DataDir is null || _secondsOnly > 0
        ? $"S3 LastModified (s3rver: whole seconds) for {(s3DataDir is null ? "all" : _secondsOnly.ToString(CultureInfo.InvariantCulture))} objects"
        : "mtime of s3rver's metadata file of the object (written when the PUT completes)";

    /// <summary>Lists the bucket and HEADs new objects; returns the sum of their record-count metadata.</summary>
    public async Task<long> RefreshAsync(CancellationToken ct)
    {
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix };
        var fresh = new List<Amazon.S3.Model.S3Object>();
        ListObjectsV2Response response;
        do
        {
            response = await s3.ListObjectsV2Async(request, ct);
            fresh.AddRange((response.S3Objects ?? []).Where(o => !_objects.ContainsKey(o.Key)));
            request.ContinuationToken = response.NextContinuationToken;
        } while (response.IsTruncated == true);

        foreach (var chunk in fresh.Chunk(8))
        {
            var heads = await Task.WhenAll(chunk.Select(async o =>
                (Object: o, Head: await s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = o.Key }, ct))));
            foreach (var (o, head) in heads)
            {
                if (!ObjectKeys.TryParse(o.Key, out var parsed)) throw new InvalidDataException($"object {o.Key} does not have the sink's key layout");
                // s3rver lists an object as soon as its data file exists and writes the metadata after it: an object
                // without the sink's metadata is still being stored. Take it on a later refresh.
                if (!long.TryParse(head.Metadata[ObjectMetadata.RecordCount], NumberStyles.None, CultureInfo.InvariantCulture, out var claimed)) continue;
                if (StoredAt(o) is not { } storedAt) continue;
                _objects[o.Key] = new S3Object(o.Key, parsed.Partition, parsed.StartOffset, claimed, storedAt, head.ContentLength);
            }
        }
        return _objects.Values.Sum(o => o.ClaimedRecords);
    }

    /// <summary>Reads every object not read yet and parses its lines (each must be a lake line with the user's id).</summary>
    public async Task LoadContentsAsync(CancellationToken ct)
    {
        foreach (var chunk in _objects.Values.Where(o => o.Ids is null).Chunk(8))
        {
            await Task.WhenAll(chunk.Select(async o =>
            {
                using var get = await s3.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = o.Key }, ct);
                using var reader = new StreamReader(get.ResponseStream);
                var ids = new List<long>();
                while (await reader.ReadLineAsync(ct) is { } line)
                {
                    if (line.Length == 0) continue;
                    using var doc = System.Text.Json.JsonDocument.Parse(line);
                    ids.Add(doc.RootElement.GetProperty("id").GetInt64());
                }
                o.Ids = ids;
            }));
        }
    }

    /// <summary>Null while s3rver's metadata file is not there yet (the PUT is still in progress).</summary>
    private DateTime? StoredAt(Amazon.S3.Model.S3Object o)
    {
        if (s3DataDir is not null)
        {
            var parts = o.Key.Split('/');
            parts[^1] += "._S3rver_metadata.json";
            var file = Path.Combine([s3DataDir, bucket, .. parts]);
            if (File.Exists(file)) return File.GetLastWriteTimeUtc(file);
            if (Directory.Exists(Path.Combine(s3DataDir, bucket))) return null;
        }
        _secondsOnly++;
        return (o.LastModified ?? DateTime.MinValue).ToUniversalTime();
    }
}
