using System.Diagnostics;
using System.Globalization;
using System.Text;
using Amazon.S3;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Sinks;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.S3SinkService;

/// <summary>
/// P_USERS -> JSON-lines objects in S3, each (partition, offset) stored exactly once. A partition resumes where the
/// bucket's newest object of it ends (not at the committed offset, which lags when a writer died between PUT and
/// commit), so objects never overlap. Before each PUT the task proves it still owns the partition in the group's
/// current generation, and objects are written once (<see cref="WriteOnceObjects"/>): a stalled or duplicate instance
/// can neither overwrite another's object nor leave a gap. Private fields are pseudonymised, deletes are marker lines.
/// </summary>
public sealed class S3SinkTask : ISinkTask, IDisposable
{
    private readonly S3SinkOptions _options;
    private readonly S3Options _s3Options;
    private readonly FieldProtector _protector;
    private readonly ILogger<S3SinkTask> _logger;
    private readonly IAmazonS3 _s3;
    private readonly BucketPositions _positions;
    private readonly WriteOnceObjects _objects;
    private readonly RotationPolicy _rotation;
    private ISinkContext _context = null!;

    // Per partition: the objects being built (the last one open, the others full and waiting for their PUT, in order)
    // and the next offset to take (anything lower is stored or buffered already: a redelivery).
    private readonly Dictionary<int, List<PartitionBuffer>> _buffers = [];
    private readonly Dictionary<int, long> _next = [];
    private readonly List<(int Partition, long Start, long End, string Key, int Records)> _lastStored = [];

    public S3SinkTask(IOptions<S3SinkOptions> options, IOptions<S3Options> s3Options, FieldProtector protector, ILogger<S3SinkTask> logger)
    {
        _options = options.Value;
        _s3Options = s3Options.Value;
        _protector = protector;
        _logger = logger;
        _s3 = _s3Options.CreateClient();
        _positions = new BucketPositions(_s3, _s3Options.Bucket, _options.TopicsDir, _options.EffectiveTopic);
        _objects = new WriteOnceObjects(_s3, _s3Options.Bucket, _options.TopicsDir);
        _rotation = new RotationPolicy(_options.FlushSize, _options.RotateInterval);
    }

    public string Target => $"S3 at {_s3Options.ServiceUrl ?? "AWS"} (bucket {_s3Options.Bucket})";
    public string SpanName => "s3 put";

    public async Task StartAsync(ISinkContext context, CancellationToken ct)
    {
        _context = context;
        await _s3.EnsureBucketAsync(_s3Options.Bucket, ct);
        await _objects.ProbeAsync(ct);
        _logger.LogInformation("S3 sink: s3://{Bucket}/{Dir}/{Topic}/, FlushSize {FlushSize}, RotateInterval {Rotate}; objects written once by {How}",
            _s3Options.Bucket, _options.TopicsDir, _options.EffectiveTopic, _options.FlushSize, _options.RotateInterval,
            _objects.ConditionalWrites ? "conditional PUT (If-None-Match: *)" : "HEAD before PUT (the store has no conditional writes)");
    }

    public async Task<IReadOnlyDictionary<TopicPartition, long?>> OpenAsync(IReadOnlyDictionary<TopicPartition, long?> committed, CancellationToken ct)
    {
        var lookups = committed.Select(async kv =>
        {
            var last = await _positions.LastObjectAsync(kv.Key.Partition.Value, kv.Value, ct);
            return (Partition: kv.Key, Last: last, Resume: ResumePosition.Choose(last?.EndOffset, kv.Value));
        });
        var result = new Dictionary<TopicPartition, long?>();
        foreach (var p in await Task.WhenAll(lookups))
        {
            var partition = p.Partition.Partition.Value;
            _buffers.Remove(partition);
            if (p.Resume is long resume) _next[partition] = resume;
            else _next.Remove(partition);
            result[p.Partition] = p.Resume;
            _logger.LogInformation("Partition {Partition}: the bucket ends at {End} ({Key})", partition,
                p.Last?.EndOffset.ToString(CultureInfo.InvariantCulture) ?? "-", p.Last?.Key ?? "no object yet");
        }
        return result;
    }

    public Task<IReadOnlyList<ErrantRecord>> PutAsync(IReadOnlyList<SinkRecord> records, CancellationToken ct)
    {
        var errant = new List<ErrantRecord>();
        var now = DateTimeOffset.UtcNow;
        foreach (var r in records)
        {
            var partition = r.TopicPartition.Partition.Value;
            if (_next.TryGetValue(partition, out var next) && r.Offset < next) continue; // stored or buffered already
            _next[partition] = r.Offset + 1;
            var value = r.Message.Message.Value;
            if (value is not null && value.AsSpan().IndexOfAny((byte)'\n', (byte)'\r') >= 0)
            {
                errant.Add(new ErrantRecord(r.Message, new InvalidRecordException("value contains a line break; JSON lines need one record per line"), "s3-format"));
                continue;
            }
            var buffers = _buffers.TryGetValue(partition, out var list) ? list : _buffers[partition] = [];
            if (buffers.Count == 0 || buffers[^1].Records >= _options.FlushSize) buffers.Add(new PartitionBuffer(partition, r.Offset, now));
            // A delete is Debezium's rewrite convention: the key with "__deleted": "true"; replaying the lines in offset order gives the table.
            buffers[^1].Add(r.Offset, r.IsDelete
                ? Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"id\":{r.Id},\"__deleted\":\"true\"}}"))
                : _protector.Protect(value!));
        }
        return Task.FromResult<IReadOnlyList<ErrantRecord>>(errant);
    }

    public async Task<IReadOnlyDictionary<TopicPartition, long>> PreCommitAsync(IReadOnlyDictionary<TopicPartition, long> putOffsets, bool force, CancellationToken ct)
    {
        _lastStored.Clear();
        var now = DateTimeOffset.UtcNow;
        // Objects of one partition go in order (the bucket's newest object is where the partition resumes); partitions in parallel.
        await Task.WhenAll(_buffers.Values.Select(async buffers =>
        {
            while (buffers.Count > 0 && (force || buffers.Count > 1 || _rotation.Check(buffers[0].Records, buffers[0].OpenedAt, now) != RotationReason.None))
            {
                await StoreAsync(buffers, ct);
            }
        }));
        // Before the first unstored object everything is stored (or dead-lettered); without one, everything handed over is.
        return putOffsets.ToDictionary(kv => kv.Key,
            kv => _buffers.TryGetValue(kv.Key.Partition.Value, out var b) && b.Count > 0 ? b[0].StartOffset : kv.Value);
    }

    private async Task StoreAsync(List<PartitionBuffer> buffers, CancellationToken ct)
    {
        var buffer = buffers[0];
        var key = ObjectKeys.ObjectKey(_options.TopicsDir, _options.EffectiveTopic, buffer.Partition, buffer.StartOffset);
        try
        {
            await _objects.CheckFreeAsync(key, ct);
            _context.ConfirmOwnership(new TopicPartition(_options.EffectiveTopic, buffer.Partition), buffer.StartOffset);
            await _objects.PutAsync(Request(buffer, key), ct);
            buffers.RemoveAt(0);
            lock (_lastStored) _lastStored.Add((buffer.Partition, buffer.StartOffset, buffer.EndOffset, key, buffer.Records));
        }
        catch (ObjectExistsException e)
        {
            // Another writer (a stalled or duplicate instance) stored this key first: its object holds the same records,
            // so keep only what lies beyond its end.
            if (e.EndOffset <= buffer.StartOffset)
                throw new NotRetriableException($"{e.Message}, not beyond its start: it was not written by this sink; remove it");
            _logger.LogWarning("{Error}: keeping only offsets from {End} on", e.Message, e.EndOffset);
            var rest = buffers.Where(b => b.EndOffset > e.EndOffset).Select(b => b.StartOffset < e.EndOffset ? b.From(e.EndOffset) : b).ToList();
            buffers.Clear();
            buffers.AddRange(rest);
            lock (_next) _next[buffer.Partition] = Math.Max(_next.GetValueOrDefault(buffer.Partition), e.EndOffset);
        }
    }

    private Amazon.S3.Model.PutObjectRequest Request(PartitionBuffer b, string key)
    {
        var request = S3Extensions.PlainPut(_s3Options.Bucket, key, b.Body, "application/x-ndjson");
        request.Metadata.Add(ObjectMetadata.Topic, _options.EffectiveTopic);
        request.Metadata.Add(ObjectMetadata.Partition, b.Partition.ToString(CultureInfo.InvariantCulture));
        request.Metadata.Add(ObjectMetadata.StartOffset, b.StartOffset.ToString(CultureInfo.InvariantCulture));
        request.Metadata.Add(ObjectMetadata.EndOffset, b.EndOffset.ToString(CultureInfo.InvariantCulture));
        request.Metadata.Add(ObjectMetadata.RecordCount, b.Records.ToString(CultureInfo.InvariantCulture));
        return request;
    }

    public void Close(IReadOnlyCollection<TopicPartition> partitions)
    {
        foreach (var tp in partitions)
        {
            if (_buffers.Remove(tp.Partition.Value, out var dropped) && dropped.Count > 0)
                _logger.LogInformation("Partition {Partition} closed: dropping its unstored objects from offset {Start}; the next owner reads them again",
                    tp.Partition.Value, dropped[0].StartOffset);
            _next.Remove(tp.Partition.Value);
        }
    }

    public DateTimeOffset? NextFlushAt
    {
        get
        {
            DateTimeOffset? next = null;
            foreach (var b in _buffers.Values.Where(b => b.Count > 0))
            {
                var at = b.Count > 1 || b[0].Records >= _options.FlushSize ? DateTimeOffset.MinValue : b[0].OpenedAt + _options.RotateInterval;
                if (next is null || at < next) next = at;
            }
            return next;
        }
    }

    public void Describe(Activity span, TopicPartition partition, long offset)
    {
        var stored = _lastStored.FirstOrDefault(s => s.Partition == partition.Partition.Value && offset >= s.Start && offset < s.End);
        span.SetTag("aws.s3.bucket", _s3Options.Bucket);
        if (stored.Key is null) return;
        span.SetTag("aws.s3.key", stored.Key);
        span.SetTag("kafkapipeline.batch.size", stored.Records);
    }

    public void Dispose() => _s3.Dispose();
}
