using System.Diagnostics;
using System.Globalization;
using Amazon.S3;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Sinks;
using Microsoft.Extensions.Options;
using Microsoft.IO;

namespace KafkaPipeline.S3SinkService;

/// <summary>
/// P_USERS -> JSON-lines objects in S3, each (partition, offset) stored exactly once. A partition resumes where the
/// bucket's newest object of it ends (not at the committed offset, which lags when a writer died between PUT and
/// commit), so objects never overlap. Before each PUT the task proves it still owns the partition in the group's
/// current generation, and objects are written once (<see cref="WriteOnceObjects"/>): a stalled or duplicate instance
/// can neither overwrite another's object nor leave a gap. Lines are <see cref="LakeLines"/> (private fields pseudonymised, deletes marked).
/// </summary>
public sealed class S3SinkTask(IOptions<S3SinkOptions> options, IOptions<S3Options> s3Options, FieldProtector protector, ILogger<S3SinkTask> logger)
    : ISinkTask, IDisposable
{
    private readonly S3SinkOptions _options = options.Value;
    private readonly S3Options _s3Options = s3Options.Value;
    private readonly string _topic = options.Value.EffectiveTopic;
    private readonly IAmazonS3 _s3 = s3Options.Value.CreateClient();
    private readonly RotationPolicy _rotation = new(options.Value.FlushSize, options.Value.RotateInterval);
    // Objects are built in pooled 128 KB blocks; up to 8 MB of free blocks are kept for the next objects.
    private readonly RecyclableMemoryStreamManager _streams = new(new RecyclableMemoryStreamManager.Options { MaximumSmallPoolFreeBytes = 8 << 20 });
    private readonly LakeRecords _records = new(protector);
    private readonly LakeLines _lines = new();
    private BucketPositions _positions = null!;
    private WriteOnceObjects _objects = null!;
    private ISinkContext _context = null!;

    // Per partition: the objects being built (the last one open, the others full and waiting for their PUT, in order)
    // and the next offset to take (anything lower is stored or buffered already: a redelivery).
    private readonly Dictionary<int, List<PartitionBuffer>> _buffers = [];
    private readonly Dictionary<int, long> _next = [];
    private readonly List<(int Partition, long Start, long End, string Key, int Records)> _lastStored = [];

    /// <summary>The dead-letter stage of a record that cannot be written as a lake line.</summary>
    public const string FormatStage = "s3-format";

    public string Target => $"S3 at {_s3Options.ServiceUrl ?? "AWS"} (bucket {_s3Options.Bucket})";
    public string SpanName => "s3 put";

    public async Task StartAsync(ISinkContext context, CancellationToken ct)
    {
        _context = context;
        _positions = new BucketPositions(_s3, _s3Options.Bucket, _options.TopicsDir, _topic);
        _objects = new WriteOnceObjects(_s3, _s3Options.Bucket);
        await _s3.EnsureBucketAsync(_s3Options.Bucket, ct);
        await _objects.ProbeAsync(ct);
        logger.LogInformation("S3 sink: s3://{Bucket}/{Dir}/{Topic}/, FlushSize {FlushSize}, RotateInterval {Rotate}; objects written once by {How}",
            _s3Options.Bucket, _options.TopicsDir, _topic, _options.FlushSize, _options.RotateInterval,
            _objects.ConditionalWrites ? "conditional PUT (If-None-Match: *)" : "HEAD before PUT (the store has no conditional writes)");
    }

    public async Task<IReadOnlyDictionary<TopicPartition, long?>> OpenAsync(IReadOnlyDictionary<TopicPartition, long?> committed, CancellationToken ct)
    {
        var resume = await _positions.ResumeOffsetsAsync(committed, ct);
        foreach (var (tp, offset) in resume)
        {
            Drop(tp.Partition.Value);
            if (offset is long o) _next[tp.Partition.Value] = o;
            else _next.Remove(tp.Partition.Value);
        }
        return resume;
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
            ReadOnlySpan<byte> line;
            try
            {
                line = _lines.Line(_records.Of(r));
            }
            catch (Exception e)
            {
                // A row the reader accepted always has a line; this guard keeps a defect from stopping the sink. The
                // exception's text could quote a value: only its class goes to the dead-letter topic.
                errant.Add(new ErrantRecord(r.Message, new InvalidRecordException($"the record cannot be written as a lake line ({e.GetType().Name})"), FormatStage));
                continue;
            }
            var buffers = _buffers.TryGetValue(partition, out var list) ? list : _buffers[partition] = [];
            if (buffers.Count == 0 || _rotation.IsFull(buffers[^1].Records)) buffers.Add(new PartitionBuffer(_streams, partition, r.Offset, now));
            buffers[^1].Add(r.Offset, line);
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
        var key = ObjectKeys.ObjectKey(_options.TopicsDir, _topic, buffer.Partition, buffer.StartOffset);
        try
        {
            await _objects.CheckFreeAsync(key, ct);
            _context.ConfirmOwnership(new TopicPartition(_topic, buffer.Partition), buffer.StartOffset);
            await _objects.PutAsync(buffer.PutRequest(_s3Options.Bucket, key, _topic), ct);
            buffers.RemoveAt(0);
            buffer.Dispose();
            lock (_lastStored) _lastStored.Add((buffer.Partition, buffer.StartOffset, buffer.EndOffset, key, buffer.Records));
        }
        catch (ObjectExistsException e)
        {
            // Another writer (a stalled or duplicate instance) stored this key first: its object holds the same records,
            // so keep only what lies beyond its end.
            if (e.EndOffset <= buffer.StartOffset)
                throw new NotRetriableException($"{e.Message}, not beyond its start: it was not written by this sink; remove it");
            logger.LogWarning("{Error}: keeping only offsets from {End} on", e.Message, e.EndOffset);
            var rest = PartitionBuffer.Beyond(buffers, e.EndOffset);
            buffers.Clear();
            buffers.AddRange(rest);
            lock (_next) _next[buffer.Partition] = Math.Max(_next.GetValueOrDefault(buffer.Partition), e.EndOffset);
        }
    }

    public void Close(IReadOnlyCollection<TopicPartition> partitions)
    {
        // What is not stored yet is the next owner's to read again.
        foreach (var tp in partitions)
        {
            Drop(tp.Partition.Value);
            _next.Remove(tp.Partition.Value);
        }
    }

    private void Drop(int partition)
    {
        if (_buffers.Remove(partition, out var dropped)) dropped.ForEach(b => b.Dispose());
    }

    public DateTimeOffset? NextFlushAt =>
        _buffers.Values.Where(b => b.Count > 0).Select(b => b.Count > 1 ? DateTimeOffset.MinValue : _rotation.DueAt(b[0].Records, b[0].OpenedAt))
            .Cast<DateTimeOffset?>().Min();

    public void Describe(Activity span, TopicPartition partition, long offset)
    {
        var stored = _lastStored.FirstOrDefault(s => s.Partition == partition.Partition.Value && offset >= s.Start && offset < s.End);
        span.SetTag("aws.s3.bucket", _s3Options.Bucket);
        if (stored.Key is null) return;
        span.SetTag("aws.s3.key", stored.Key);
        span.SetTag("kafkapipeline.batch.size", stored.Records);
    }

    public void Dispose()
    {
        foreach (var partition in _buffers.Keys.ToList()) Drop(partition);
        _lines.Dispose();
        _s3.Dispose();
    }
}
