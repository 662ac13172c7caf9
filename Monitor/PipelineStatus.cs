using System.Globalization;
using Amazon.S3;
using Amazon.S3.Model;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using MySqlConnector;
using Npgsql;

namespace KafkaPipeline.Monitor;

/// <summary>What each store holds right now, read from the stores themselves.</summary>
public sealed record StatusSnapshot(
    long? PostgresUsers, long? TopicMessages, long? MySqlRows, long? S3Records, long? S3Objects, long? DeadLetters,
    double? LatestLatencyMs, IReadOnlyList<(string Residence, long Users)> TopResidences)
{
    public string ToLine()
    {
        static string N(long? v) => v?.ToString("N0", CultureInfo.InvariantCulture) ?? "?";
        var top = string.Join(", ", TopResidences.Select(r => $"{r.Residence} {r.Users}"));
        return $"users in PostgreSQL {N(PostgresUsers)} | P_USERS {N(TopicMessages)} msgs | MySQL {N(MySqlRows)} rows | " +
               $"S3 {N(S3Records)} records in {N(S3Objects)} objects | DLQ {N(DeadLetters)} | " +
               $"latest e2e PG->MySQL {(LatestLatencyMs is { } l ? l.ToString("F0", CultureInfo.InvariantCulture) + " ms" : "?")}" +
               (top.Length > 0 ? $" | top sign-up countries: {top}" : "");
    }
}

/// <summary>Reads the counts; a store that is down shows as "?" rather than stopping the screen.</summary>
public sealed class PipelineStatus(NpgsqlDataSource postgres, KafkaClients kafka, string mysql, S3Options s3Options, string topic, string table) : IDisposable
{
    private readonly IAmazonS3 _s3 = s3Options.CreateClient();
    private readonly Dictionary<string, long> _objectRecords = new();
    private readonly IConsumer<byte[], byte[]> _consumer = kafka.Consumer<byte[], byte[]>("pipeline-monitor", "pipeline-monitor").Build();

    public async Task<StatusSnapshot> ReadAsync(CancellationToken ct)
    {
        var t = SqlIdentifier.QuotePostgres(table);
        var users = await Try(async () =>
        {
            await using var conn = await postgres.OpenConnectionAsync(ct);
            await using var cmd = new NpgsqlCommand($"SELECT count(*) FROM {t}", conn);
            return (long)(await cmd.ExecuteScalarAsync(ct))!;
        });
        var top = await Try(async () =>
        {
            await using var conn = await postgres.OpenConnectionAsync(ct);
            await using var cmd = new NpgsqlCommand($"SELECT residence, count(*) FROM {t} GROUP BY residence ORDER BY 2 DESC, 1 LIMIT 3", conn);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            var list = new List<(string, long)>();
            while (await reader.ReadAsync(ct)) list.Add((reader.GetString(0), reader.GetInt64(1)));
            return list;
        });
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
        var messages = await Try(() => Task.FromResult(CountMessages(topic)));
        var dlq = await Try(() => Task.FromResult(CountMessages(TopicNames.DeadLetter(topic))));
        var (records, objects) = await TryPair(() => CountS3Async(s3Options.Bucket, topic, ct));
        return new StatusSnapshot(users, messages, rows, records, objects, dlq, latency, top ?? []);
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

    /// <summary>Records per object come from the sink's metadata; each object is asked once, then remembered.</summary>
    private async Task<(long?, long?)> CountS3Async(string bucket, string name, CancellationToken ct)
    {
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = $"topics/{name}/" };
        long objects = 0;
        ListObjectsV2Response page;
        do
        {
            page = await _s3.ListObjectsV2Async(request, ct);
            foreach (var o in page.S3Objects ?? [])
            {
                objects++;
                if (_objectRecords.ContainsKey(o.Key)) continue;
                var meta = await _s3.GetObjectMetadataAsync(bucket, o.Key, ct);
                // No metadata yet: s3rver is still storing the object (it writes metadata last); ask again next time.
                if (long.TryParse(meta.Metadata["record-count"], out var c)) _objectRecords[o.Key] = c;
            }
            request.ContinuationToken = page.NextContinuationToken;
        } while (page.IsTruncated == true);
        return (_objectRecords.Values.Sum(), objects);
    }

    private static async Task<T?> Try<T>(Func<Task<T>> read)
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
        _s3.Dispose();
        _consumer.Dispose();
    }
}
