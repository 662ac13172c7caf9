using System.Globalization;
using System.Text;
using Amazon.S3.Model;
using Confluent.Kafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.IntegrationTests.Sinks;
using KafkaPipeline.S3SinkService;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Sinks;
using KafkaPipeline.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using S3SinkApp = KafkaPipeline.S3SinkService.S3SinkApp;

namespace KafkaPipeline.IntegrationTests.S3Sink;

/// <summary>One stored object of the sink, read back: its key, metadata and lines.</summary>
internal sealed record StoredObjectContent(string Key, int Partition, long StartOffset, long EndOffset, int RecordCount, List<byte[]> Lines);

/// <summary>The S3 sink's thin kit: its own bucket, the sink in-process, the bucket read back. Kafka: <see cref="SinkTestKit"/>.</summary>
internal sealed class S3SinkTestKit : IAsyncDisposable
{
    public const string GroupId = "s3-sink";
    public const string Topic = SinkTestKit.Topic;
    public static readonly FieldProtector Protector = KafkaPipeline.Tests.TestProtection.Protector;

    private S3SinkTestKit(TestBucket bucket, SinkTestKit kafka)
    {
        Bucket = bucket;
        Kafka = kafka;
    }

    public SinkTestKit Kafka { get; }
    public TestBucket Bucket { get; }
    public LogCapture Logs => Kafka.Logs;

    public static async Task<S3SinkTestKit> CreateAsync(SinkTestKit? kafka = null, TestBucket? bucket = null) =>
        new(bucket ?? await TestServers.CreateS3BucketAsync("s3sink"), kafka ?? new SinkTestKit());

    /// <summary>Starts S3SinkService in this process; <paramref name="services"/> may replace registrations (e.g. wrap the task).</summary>
    public Task<WebApplication> StartSinkAsync(IDictionary<string, string>? sinkSettings = null, Action<IServiceCollection>? services = null, string? s3Url = null)
    {
        var args = new List<string>
        {
            $"--ConnectionStrings:kafka={Kafka.Bootstrap}",
            $"--S3:ServiceUrl={s3Url ?? TestServers.S3Url}",
            $"--S3:Bucket={Bucket.Name}",
            $"--S3:AccessKey={TestServers.S3AccessKey}",
            $"--S3:SecretKey={TestServers.S3SecretKey}",
            $"--Protection:Key={KafkaPipeline.Tests.TestProtection.Key}",
            "--urls=http://127.0.0.1:0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:KafkaPipeline=Information",
            "--S3Sink:RetryBackoffMax=00:00:01",
        };
        foreach (var (key, value) in sinkSettings ?? new Dictionary<string, string>()) args.Add($"--S3Sink:{key}={value}");
        return Kafka.StartAsync(S3SinkApp.Create([.. args], s =>
        {
            s.AddSingleton<ILoggerProvider>(Logs);
            services?.Invoke(s);
        }));
    }

    public static SinkProgress Progress(WebApplication app) => app.Services.GetRequiredService<SinkProgress>();

    public static UserRecord User(long id) => new()
    {
        Id = id,
        // Non-ASCII on purpose: the object bytes must be the UTF-8 bytes as produced (but for the pseudonymised ssn).
        Name = $"Zoë Ñúñez-{id} 東京 😀",
        Username = $"user{id}",
        Sex = id % 2 == 0 ? "F" : "M",
        Address = $"{id} Rue de l'Église\nApt {id % 7} & <b>",
        Mail = $"user{id}@example.com",
        Birthdate = new DateOnly(1980, 1, 1).AddDays((int)(id % 9000)),
        Job = "Engineer",
        Company = "ACME \"Quotes\" & Co",
        Ssn = $"{id:D3}-00-0000",
        Residence = "Somewhere",
        CreatedAt = DateTime.UtcNow,
        UpdatedAt = DateTime.UtcNow,
    };

    /// <summary>
    /// Produces users change events (a null user: a delete, a tombstone) and returns (partition, offset) -> the line the
    /// sink must store, in canonical form (<see cref="ExpectedLakeLines"/>).
    /// </summary>
    public Dictionary<(int Partition, long Offset), string> Produce(IEnumerable<(byte[] Key, UserRecord? User, Headers? Headers)> messages)
    {
        var users = new Dictionary<string, UserRecord>(StringComparer.Ordinal);
        var produced = messages.Select(m =>
        {
            var value = m.User is null ? null : UsersEvents.Value(m.User);
            if (value is not null) users[Convert.ToBase64String(value)] = m.User!;
            return (m.Key, value, m.Headers);
        });
        return Kafka.Produce(produced).ToDictionary(r => (r.Partition.Value, r.Offset.Value), r => ExpectedLakeLines.Canonical(ExpectedLakeLines.Users(
            r.Message.Value is null ? null : users[Convert.ToBase64String(r.Message.Value)], Encoding.UTF8.GetString(r.Message.Key!),
            r.Message.Headers, r.Partition.Value, r.Offset.Value, Protector)));
    }

    public Dictionary<(int Partition, long Offset), string> ProduceUsers(long firstId, int count, Func<UserRecord, Headers?>? headers = null) =>
        Produce(Enumerable.Range(0, count).Select(i => User(firstId + i)).Select(u => (SinkTestKit.Key(u.Id), (UserRecord?)u, headers?.Invoke(u))));

    /// <summary>
    /// Every object under topics/P_USERS/, with metadata and lines. With <paramref name="skipIncomplete"/> an object
    /// without metadata is passed over: s3rver writes an object's data file before its metadata file, so a listing can
    /// see a PUT that is still in progress (or one cut off by an outage, which the sink then repeats).
    /// </summary>
    public async Task<List<StoredObjectContent>> ReadBucketAsync(bool skipIncomplete = false)
    {
        var result = new List<StoredObjectContent>();
        var request = new ListObjectsV2Request { BucketName = Bucket.Name, Prefix = $"topics/{Topic}/" };
        ListObjectsV2Response page;
        do
        {
            page = await Bucket.Client.ListObjectsV2Async(request);
            foreach (var o in page.S3Objects ?? [])
            {
                Assert.True(ObjectKeys.TryParse(o.Key, out var parsed), $"unexpected key {o.Key}");
                using var get = await Bucket.Client.GetObjectAsync(Bucket.Name, o.Key);
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

    public async Task<List<StoredObjectContent>> WaitForRecordsAsync(int expected)
    {
        List<StoredObjectContent> objects = [];
        var deadline = DateTime.UtcNow + SinkTestKit.Patience;
        while (true)
        {
            objects = await ReadBucketAsync(skipIncomplete: true);
            var lines = objects.Sum(o => o.Lines.Count);
            if (lines >= expected) return objects;
            if (DateTime.UtcNow > deadline) Assert.Fail($"only {lines} of {expected} records in s3://{Bucket.Name} after {SinkTestKit.Patience}\n{Logs.Text}");
            await Task.Delay(250);
        }
    }

    /// <summary>
    /// Objects without dead-lettered records: line i of an object is offset start + i. Asserts that every
    /// (partition, offset) is stored exactly once as the line expected (fields and metadata, canonical form), that no line
    /// holds a clear social security number, and that each partition's objects are contiguous (each starts where the
    /// previous ended).
    /// </summary>
    public static void AssertExactlyOnce(List<StoredObjectContent> objects, Dictionary<(int Partition, long Offset), string> expected)
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
                Assert.True(expected.TryGetValue(at, out var line), $"{o.Key} holds offset {at.Item2} that was never produced");
                Assert.True(line == ExpectedLakeLines.Canonical(o.Lines[i]), $"{o.Key} line {i}: {Encoding.UTF8.GetString(o.Lines[i])} != {line}");
                Assert.DoesNotContain("-00-0000", Encoding.UTF8.GetString(o.Lines[i]), StringComparison.Ordinal);
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

    public Dictionary<int, long> Committed(string groupId = GroupId) => Kafka.Committed(groupId);

    public async ValueTask DisposeAsync()
    {
        await Kafka.DisposeAsync();
        Bucket.Dispose();
    }
}
