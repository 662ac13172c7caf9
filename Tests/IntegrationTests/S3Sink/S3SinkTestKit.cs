using System.Globalization;
using System.Text;
using Amazon.S3.Model;
using Confluent.Kafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.S3SinkService;
using KafkaPipeline.Shared;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using S3SinkApp = KafkaPipeline.S3SinkService.S3SinkApp;

namespace KafkaPipeline.IntegrationTests.S3Sink;

/// <summary>One stored object of the sink, read back: its key, metadata and lines.</summary>
internal sealed record StoredObjectContent(string Key, int Partition, long StartOffset, long EndOffset, int RecordCount, List<byte[]> Lines);

/// <summary>Starting the sink in-process, producing user records, and reading the bucket back.</summary>
internal static class S3SinkTestKit
{
    public const string Topic = "P_USERS";
    public const int Partitions = 4;
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    /// <summary>Starts S3SinkService in this process against the embedded Kafka and s3rver.</summary>
    public static async Task<WebApplication> StartSinkAsync(
        string bootstrap, TestBucket bucket, IDictionary<string, string>? sinkSettings = null, IS3SinkHooks? hooks = null,
        string? s3Url = null)
    {
        var args = new List<string>
        {
            $"--ConnectionStrings:kafka={bootstrap}",
            $"--S3:ServiceUrl={s3Url ?? TestServers.S3Url}",
            $"--S3:Bucket={bucket.Name}",
            $"--S3:AccessKey={TestServers.S3AccessKey}",
            $"--S3:SecretKey={TestServers.S3SecretKey}",
            "--urls=http://127.0.0.1:0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:KafkaPipeline=Information",
        };
        foreach (var (key, value) in sinkSettings ?? new Dictionary<string, string>())
            args.Add($"--S3Sink:{key}={value}");
        var app = S3SinkApp.Create([.. args], services =>
        {
            if (hooks is not null) services.AddSingleton(hooks);
        });
        await app.StartAsync();
        return app;
    }

    public static UserRecord User(long id) => new()
    {
        Id = id,
        // Non-ASCII on purpose: the object bytes must be the UTF-8 bytes as produced.
        Name = $"Zoë Ñúñez-{id} 東京",
        Username = $"user{id}",
        Sex = id % 2 == 0 ? "F" : "M",
        Address = $"{id} Rue de l'Église\nApt {id % 7}",
        Mail = $"user{id}@example.com",
        Birthdate = new DateOnly(1980, 1, 1).AddDays((int)(id % 9000)),
        Job = "Engineer",
        Company = "ACME \"Quotes\" & Co",
        Ssn = $"{id:D3}-00-0000",
        Residence = "Somewhere",
        CreatedAt = DateTime.UtcNow,
        UpdatedAt = DateTime.UtcNow,
    };

    public static IProducer<byte[]?, byte[]?> Producer(string bootstrap) =>
        new ProducerBuilder<byte[]?, byte[]?>(KafkaSettings.Producer(bootstrap, "s3sink-test")).SetLogHandler((_, _) => { }).Build();

    /// <summary>Produces raw values (partition chosen by murmur2 of the key, as the source does) and returns (partition, offset) -> value.</summary>
    public static Dictionary<(int Partition, long Offset), byte[]> Produce(
        IProducer<byte[]?, byte[]?> producer, IEnumerable<(string Key, byte[] Value)> messages) =>
        Produce(producer, messages.Select(m => (m.Key, m.Value, (Headers?)null)));

    public static Dictionary<(int Partition, long Offset), byte[]> Produce(
        IProducer<byte[]?, byte[]?> producer, IEnumerable<(string Key, byte[] Value, Headers? Headers)> messages)
    {
        var reports = new List<DeliveryReport<byte[]?, byte[]?>>();
        foreach (var (key, value, headers) in messages)
        {
            var keyBytes = Encoding.UTF8.GetBytes(key);
            var partition = Murmur2Partitioner.Partition(keyBytes, Partitions);
            var message = new Message<byte[]?, byte[]?> { Key = keyBytes, Value = value, Headers = headers };
            producer.Produce(new TopicPartition(Topic, partition), message, r =>
            {
                lock (reports) reports.Add(r);
            });
        }
        producer.Flush(Patience);
        lock (reports)
        {
            Assert.DoesNotContain(reports, r => r.Error.IsError);
            return reports.ToDictionary(r => (r.Partition.Value, r.Offset.Value), r => r.Message.Value!);
        }
    }

    public static Dictionary<(int Partition, long Offset), byte[]> ProduceUsers(IProducer<byte[]?, byte[]?> producer, long firstId, int count) =>
        Produce(producer, Enumerable.Range(0, count).Select(i => firstId + i)
            .Select(id => (id.ToString(CultureInfo.InvariantCulture), UserRecordJson.Serialize(User(id)))));

    /// <summary>
    /// Every object under topics/P_USERS/, with metadata and lines. With <paramref name="skipIncomplete"/> an object
    /// without metadata is passed over: s3rver writes an object's data file before its metadata file, so a listing can
    /// see a PUT that is still in progress (or one cut off by an outage, which the sink then repeats).
    /// </summary>
    public static async Task<List<StoredObjectContent>> ReadBucketAsync(TestBucket bucket, bool skipIncomplete = false)
    {
        var result = new List<StoredObjectContent>();
        var request = new ListObjectsV2Request { BucketName = bucket.Name, Prefix = $"topics/{Topic}/" };
        ListObjectsV2Response page;
        do
        {
            page = await bucket.Client.ListObjectsV2Async(request);
            foreach (var o in page.S3Objects ?? [])
            {
                Assert.True(ObjectKeys.TryParse(o.Key, out var parsed), $"unexpected key {o.Key}");
                using var get = await bucket.Client.GetObjectAsync(bucket.Name, o.Key);
                using var body = new MemoryStream();
                await get.ResponseStream.CopyToAsync(body);
                if (skipIncomplete && get.Metadata[ObjectMetadata.EndOffset] is null) continue;
                result.Add(new StoredObjectContent(o.Key, parsed.Partition, parsed.StartOffset,
                    long.Parse(get.Metadata[ObjectMetadata.EndOffset], CultureInfo.InvariantCulture),
                    int.Parse(get.Metadata[ObjectMetadata.RecordCount], CultureInfo.InvariantCulture),
                    SplitLines(body.ToArray())));
                Assert.Equal(parsed.StartOffset.ToString(CultureInfo.InvariantCulture), get.Metadata[ObjectMetadata.StartOffset]);
            }
            request.ContinuationToken = page.NextContinuationToken;
        } while (page.IsTruncated == true);
        return result;
    }

    /// <summary>JSON lines: every line ends with '\n' (a missing last newline would be a defect too).</summary>
    public static List<byte[]> SplitLines(byte[] body)
    {
        var lines = new List<byte[]>();
        var start = 0;
        for (var i = 0; i < body.Length; i++)
        {
            if (body[i] != (byte)'\n') continue;
            lines.Add(body[start..i]);
            start = i + 1;
        }
        Assert.True(start == body.Length, "the object does not end with a newline");
        return lines;
    }

    public static async Task<List<StoredObjectContent>> WaitForRecordsAsync(TestBucket bucket, int expected)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var objects = await ReadBucketAsync(bucket, skipIncomplete: true);
            var lines = objects.Sum(o => o.Lines.Count);
            if (lines >= expected) return objects;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"only {lines} of {expected} records in s3://{bucket.Name} after {Patience}");
            await Task.Delay(250);
        }
    }

    /// <summary>
    /// Objects without dead-lettered records: line i of an object is offset start + i. Asserts that every
    /// (partition, offset) is stored exactly once, byte for byte as produced, and that each partition's objects are
    /// contiguous (each starts where the previous ended).
    /// </summary>
    public static void AssertExactlyOnce(List<StoredObjectContent> objects, Dictionary<(int Partition, long Offset), byte[]> expected)
    {
        var seen = new Dictionary<(int, long), string>();
        foreach (var o in objects)
        {
            Assert.Equal(o.Lines.Count, o.RecordCount);
            Assert.Equal(o.StartOffset + o.Lines.Count, o.EndOffset);
            for (var i = 0; i < o.Lines.Count; i++)
            {
                var at = (o.Partition, o.StartOffset + i);
                Assert.False(seen.TryGetValue(at, out var other), $"partition {at.Item1} offset {at.Item2} is in {o.Key} and in {other}");
                seen[at] = o.Key;
                Assert.True(expected.TryGetValue(at, out var value), $"{o.Key} holds offset {at.Item2} that was never produced");
                Assert.True(value.AsSpan().SequenceEqual(o.Lines[i]),
                    $"{o.Key} line {i}: {Encoding.UTF8.GetString(o.Lines[i])} != {Encoding.UTF8.GetString(value)}");
            }
        }
        var missing = expected.Keys.Where(k => !seen.ContainsKey(k)).Take(5).ToList();
        Assert.True(missing.Count == 0, $"{expected.Count - seen.Count} records missing, e.g. {string.Join(", ", missing)}");
        Assert.Equal(expected.Count, seen.Count);

        foreach (var partition in objects.GroupBy(o => o.Partition))
        {
            long? end = null;
            foreach (var o in partition.OrderBy(o => o.StartOffset))
            {
                if (end is not null) Assert.Equal(end.Value, o.StartOffset);
                end = o.EndOffset;
            }
        }
    }

    /// <summary>The group's committed offsets, read without joining the group.</summary>
    public static Dictionary<int, long> Committed(string bootstrap, string groupId)
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = groupId,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();
        var partitions = Enumerable.Range(0, Partitions).Select(p => new TopicPartition(Topic, p)).ToList();
        return consumer.Committed(partitions, TimeSpan.FromSeconds(10))
            .ToDictionary(o => o.Partition.Value, o => o.Offset.Value < 0 ? 0 : o.Offset.Value);
    }
}
