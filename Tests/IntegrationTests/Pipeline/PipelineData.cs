using System.Globalization;
using System.Text;
using Amazon.S3;
using Amazon.S3.Model;
using Confluent.Kafka;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.Shared;
using MySqlConnector;
using Npgsql;

namespace KafkaPipeline.IntegrationTests.Pipeline;

/// <summary>A message of P_USERS as stored, and its parsed user when it is a valid one.</summary>
public sealed record TopicMessage(int Partition, long Offset, byte[]? Key, byte[]? Value, Headers? Headers)
{
    private static readonly KafkaPipeline.Shared.Contract.ChangeEventReader s_events = new();

    public UserRecord? User { get; } = TryParse(Key, Value);

    public string KeyText => Key is null ? "<null>" : Encoding.UTF8.GetString(Key);

    /// <summary>Valid for the sinks: one users change event on one line.</summary>
    private static UserRecord? TryParse(byte[]? key, byte[]? value)
    {
        if (value is null || value.Length == 0 || value.AsSpan().IndexOfAny((byte)'\n', (byte)'\r') >= 0) return null;
        try
        {
            var user = UsersEvents.ToUser(s_events.Read(value));
            // A record whose key is not its id is not one the sinks store (they dead-letter it).
            return key is not null && Encoding.UTF8.GetString(key) == user.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) ? user : null;
        }
        catch (InvalidRecordException)
        {
            return null;
        }
    }
}

/// <summary>An S3 object of the sink: its key, offsets from metadata and its JSON lines.</summary>
public sealed record SinkObject(string Key, int Partition, long StartOffset, long EndOffset, long? RecordCount, IReadOnlyList<string> Lines);

/// <summary>Reads what each store holds, so tests compare real contents.</summary>
public static class PipelineData
{
    private static readonly string[] s_columns = UsersSchema.Columns;

    public static async Task<Dictionary<long, UserRecord>> PostgresUsersAsync(string connectionString)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"SELECT {string.Join(", ", s_columns)} FROM users", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        var users = new Dictionary<long, UserRecord>();
        while (await reader.ReadAsync())
        {
            var u = StoredUsers.FromPostgres(reader);
            users.Add(u.Id, u);
        }
        return users;
    }

    public static async Task<long> PostgresCountAsync(string connectionString)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM users", conn);
        try
        {
            return (long)(await cmd.ExecuteScalarAsync())!;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return 0;
        }
    }

    /// <summary>
    /// MySQL's copy, the columns the table holds (the sink keeps only its configured columns; by default no ssn), the
    /// others left at their defaults: compare with <see cref="Holding"/> of the PostgreSQL rows. DATETIME(6) columns
    /// hold UTC wall-clock values.
    /// </summary>
    public static async Task<Dictionary<long, UserRecord>> MySqlUsersAsync(string connectionString)
    {
        await using var conn = new MySqlConnection(connectionString);
        await conn.OpenAsync();
        var columns = await MySqlColumnsAsync(conn);
        await using var cmd = new MySqlCommand($"SELECT {string.Join(", ", columns.Select(c => $"`{c}`"))} FROM `users`", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        var users = new Dictionary<long, UserRecord>();
        while (await reader.ReadAsync())
        {
            var u = StoredUsers.FromMySql(reader, columns);
            users.Add(u.Id, u);
        }
        return users;
    }

    /// <summary>The record columns MySQL's users table holds, in contract order.</summary>
    public static async Task<IReadOnlyList<string>> MySqlColumnsAsync(string connectionString)
    {
        await using var conn = new MySqlConnection(connectionString);
        await conn.OpenAsync();
        return await MySqlColumnsAsync(conn);
    }

    private static async Task<IReadOnlyList<string>> MySqlColumnsAsync(MySqlConnection conn)
    {
        await using var cmd = new MySqlCommand(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users'", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        var present = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        while (await reader.ReadAsync()) present.Add(reader.GetString(0));
        return [.. s_columns.Where(present.Contains)];
    }

    /// <summary>The PostgreSQL rows as MySQL holds them: only <paramref name="columns"/>, the others at their defaults.</summary>
    public static Dictionary<long, UserRecord> Holding(IReadOnlyDictionary<long, UserRecord> rows, IReadOnlyList<string> columns) =>
        rows.ToDictionary(kv => kv.Key, kv => StoredUsers.Keep(kv.Value, columns));

    public static async Task<long> MySqlCountAsync(string connectionString)
    {
        await using var conn = new MySqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new MySqlCommand("SELECT COUNT(*) FROM `users`", conn);
        try
        {
            return Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        }
        catch (MySqlException e) when (e.Number == 1146) // the sink has not created its table yet
        {
            return 0;
        }
    }

    /// <summary>Every message of the topic from the low to the high watermark of each partition, as of the call.</summary>
    public static async Task<List<TopicMessage>> ReadTopicAsync(string bootstrap, string topic)
    {
        var marks = await EmbeddedKafkaCluster.GetWatermarksAsync(bootstrap, topic);
        return await Task.Run(() =>
        {
            var messages = new List<TopicMessage>();
            var pending = marks.Where(m => m.High > m.Low).ToDictionary(m => m.Partition, m => m.High);
            if (pending.Count == 0) return messages;
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
            {
                BootstrapServers = bootstrap,
                GroupId = "pipeline-test-reader", // never joined: partitions are assigned by hand
                EnableAutoCommit = false,
                IsolationLevel = IsolationLevel.ReadUncommitted,
            }).SetLogHandler((_, _) => { }).Build();
            consumer.Assign(marks.Where(m => m.High > m.Low).Select(m => new TopicPartitionOffset(topic, m.Partition, m.Low)));
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
            while (pending.Count > 0)
            {
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"{topic} not read to its high watermarks in time ({messages.Count} read)");
                var r = consumer.Consume(TimeSpan.FromMilliseconds(500));
                if (r is null || r.IsPartitionEOF) continue;
                var p = r.Partition.Value;
                if (!pending.TryGetValue(p, out var high) || r.Offset.Value >= high) continue;
                messages.Add(new TopicMessage(p, r.Offset.Value, r.Message.Key, r.Message.Value, r.Message.Headers));
                if (r.Offset.Value >= high - 1) pending.Remove(p);
            }
            return messages;
        });
    }

    /// <summary>Sum of committed offsets of a consumer group on the topic (how far a sink got), read without joining the group.</summary>
    public static long CommittedTotal(string bootstrap, string groupId, string topic, int partitions) =>
        Committed(bootstrap, groupId, topic, partitions) is { } c ? c.Values.Sum() : -1;

    /// <summary>Committed offset per partition (0 when none), or null when the group coordinator cannot be asked.</summary>
    public static Dictionary<int, long>? Committed(string bootstrap, string groupId, string topic, int partitions)
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = groupId,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();
        try
        {
            var committed = consumer.Committed(
                Enumerable.Range(0, partitions).Select(p => new TopicPartition(topic, p)), TimeSpan.FromSeconds(10));
            return committed.ToDictionary(c => c.Partition.Value, c => Math.Max(0, c.Offset.Value));
        }
        catch (KafkaException)
        {
            return null;
        }
    }

    /// <summary>Keys of the sink's objects, without reading them.</summary>
    public static async Task<List<string>> ListKeysAsync(IAmazonS3 s3, string bucket, string prefix)
    {
        var keys = new List<string>();
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix };
        ListObjectsV2Response response;
        do
        {
            response = await s3.ListObjectsV2Async(request);
            keys.AddRange((response.S3Objects ?? []).Select(o => o.Key));
            request.ContinuationToken = response.NextContinuationToken;
        } while (response.IsTruncated == true);
        return keys;
    }

    /// <summary>
    /// Per partition, the end offset of the object with the highest start offset (the sink's resume point), read from the
    /// key listing and one HEAD per partition. Null for partitions without an object.
    /// </summary>
    public static async Task<Dictionary<int, long>> StoredEndOffsetsAsync(IAmazonS3 s3, string bucket, string topic)
    {
        var keys = await ListKeysAsync(s3, bucket, $"topics/{topic}/");
        var last = keys.Select(k => (Key: k, Parsed: ParseKey(k))).Where(k => k.Parsed is not null)
            .GroupBy(k => k.Parsed!.Value.Partition)
            .Select(g => g.MaxBy(k => k.Parsed!.Value.Start));
        var ends = new Dictionary<int, long>();
        foreach (var k in last)
        {
            var head = await s3.GetObjectMetadataAsync(bucket, k.Key);
            // s3rver writes the metadata after the data: an object without it is still being stored.
            if (head.Metadata["end-offset"] is { } end) ends[k.Parsed!.Value.Partition] = long.Parse(end, CultureInfo.InvariantCulture);
        }
        return ends;
    }

    /// <summary>Reads every object of the topic: key, offsets from its x-amz-meta metadata, and its lines.</summary>
    public static async Task<List<SinkObject>> ReadObjectsAsync(IAmazonS3 s3, string bucket, string topic)
    {
        var objects = new List<SinkObject>();
        foreach (var key in await ListKeysAsync(s3, bucket, $"topics/{topic}/"))
        {
            var parsed = ParseKey(key) ?? throw new Xunit.Sdk.XunitException($"object key {key} does not follow topics/{topic}/partition=<p>/{topic}+<p>+<10 digits>.json");
            using var get = await s3.GetObjectAsync(bucket, key);
            using var reader = new StreamReader(get.ResponseStream, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            var lines = body.Split('\n').Where(l => l.Length > 0).ToList();
            Assert.True(body.Length == 0 || body.EndsWith('\n'), $"{key}: the last line has no line break");
            var start = long.Parse(get.Metadata["start-offset"], CultureInfo.InvariantCulture);
            var end = long.Parse(get.Metadata["end-offset"], CultureInfo.InvariantCulture);
            long? count = long.TryParse(get.Metadata["record-count"], CultureInfo.InvariantCulture, out var c) ? c : null;
            Assert.True(start == parsed.Start, $"{key}: start-offset metadata {start} differs from the key");
            objects.Add(new SinkObject(key, parsed.Partition, start, end, count, lines));
        }
        return objects;
    }

    /// <summary>(partition, start offset) of topics/{topic}/partition={p}/{topic}+{p}+{10 digits}.json, else null.</summary>
    public static (int Partition, long Start)? ParseKey(string key)
    {
        var m = System.Text.RegularExpressions.Regex.Match(key, @"^topics/([^/]+)/partition=(\d+)/\1\+(\d+)\+(\d{10})\.json$");
        if (!m.Success || m.Groups[2].Value != m.Groups[3].Value) return null;
        return (int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), long.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture));
    }

    /// <summary>Polls <paramref name="done"/> until true; on timeout fails with <paramref name="state"/>'s description.</summary>
    public static async Task WaitUntilAsync(string what, Func<Task<bool>> done, TimeSpan timeout, Func<Task<string>> state, TimeSpan? interval = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await done()) return;
            if (DateTime.UtcNow > deadline)
                throw new Xunit.Sdk.XunitException($"timed out after {timeout} waiting for {what}: {await state()}");
            await Task.Delay(interval ?? TimeSpan.FromSeconds(1));
        }
    }
}
