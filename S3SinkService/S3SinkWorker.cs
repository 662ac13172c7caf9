using System.Diagnostics;
using System.Globalization;
using Amazon.S3;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.S3SinkService;

/// <summary>
/// Called after objects are stored and before their offsets are committed. Tests use it to stop the sink exactly
/// there (a crash between PUT and commit); production registers none.
/// </summary>
public interface IS3SinkHooks
{
    Task AfterStoredAsync(IReadOnlyList<string> keys, CancellationToken ct);
}

/// <summary>
/// Consumes the topic and writes one JSON-lines object per partition and rotation.
///
/// Exactly once in the bucket: on assignment each partition resumes at the end offset of its newest object (not at the
/// group's committed offset, which lags when the sink died between PUT and commit). Each object therefore starts where
/// the previous one ended, so objects never overlap, whatever wall-clock rotation did before a crash.
///
/// Single-writer assumption: only the instance that owns a partition writes it. A paused or partitioned-off instance
/// that has lost its partitions in a rebalance (a zombie) could still PUT an object it had open; its key is the same
/// start offset the new owner uses, so the later PUT wins, but with different contents. On real S3 conditional writes
/// (PutObject with If-None-Match: *) would let the second writer fail instead; s3rver does not support them.
///
/// All Kafka and S3 work happens on one loop thread (rebalance callbacks run inside Consume), so there are no locks.
/// </summary>
public sealed class S3SinkWorker(
    IOptions<S3SinkOptions> sinkOptions,
    IOptions<S3Options> s3Options,
    KafkaClients kafka,
    IEnumerable<IS3SinkHooks> hooks,
    ILogger<S3SinkWorker> logger) : BackgroundService
{
    public const string ServiceName = "s3-sink";
    private static readonly KeyValuePair<string, object?> ServiceTag = new("service", ServiceName);
    private static readonly KeyValuePair<string, object?> SinkTag = new("sink", "s3");
    private static readonly TimeSpan PollTimeout = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan RetryBackoffMin = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan LagInterval = TimeSpan.FromSeconds(1);

    private readonly S3SinkOptions _options = sinkOptions.Value;
    private readonly S3Options _s3Options = s3Options.Value;
    private readonly IS3SinkHooks[] _hooks = hooks.ToArray();
    private readonly RotationPolicy _rotation = new(sinkOptions.Value.FlushSize, sinkOptions.Value.RotateInterval);
    private readonly string _topic = sinkOptions.Value.EffectiveTopic;

    // Open objects by partition, and the next offset to read per assigned partition (everything before it is stored,
    // dead-lettered or in the open object).
    private readonly Dictionary<int, PartitionBuffer> _open = [];
    private readonly Dictionary<int, long> _next = [];

    private IAmazonS3 _s3 = null!;
    private BucketPositions _positions = null!;

    // S3 failure handling: consumption is paused and nothing committed until the PUT succeeds.
    private DateTimeOffset? _retryAt;
    private TimeSpan _backoff = RetryBackoffMin;
    private bool _paused;

    // For the summary line.
    private long _objects, _records, _deadLettered, _lag;
    private long _summaryObjects, _summaryRecords;
    private double? _lastLatencyMs;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Run(() => RunAsync(stoppingToken), stoppingToken);

    private async Task RunAsync(CancellationToken ct)
    {
        using var s3 = _s3Options.CreateClient();
        _s3 = s3;
        _positions = new BucketPositions(s3, _s3Options.Bucket, _options.TopicsDir, _topic);
        await StartupRetry.WaitForAsync($"S3 at {_s3Options.ServiceUrl ?? "AWS"} (bucket {_s3Options.Bucket})",
            c => s3.EnsureBucketAsync(_s3Options.Bucket, c), logger, ct);

        using var dlq = new DeadLetterQueue(
            kafka.Producer<byte[]?, byte[]?>($"{ServiceName}-dlq").Build(),
            _options.EffectiveDeadLetterTopic, ServiceName);
        using var consumer = kafka.Consumer<byte[]?, byte[]?>(_options.GroupId, ServiceName, config =>
            {
                foreach (var (key, value) in _options.ConsumerOverrides) config.Set(key, value);
            })
            .SetPartitionsAssignedHandler((c, partitions) => OnAssigned(c, partitions, ct))
            .SetPartitionsRevokedHandler((_, partitions) => Drop(partitions.Select(p => p.TopicPartition), "revoked"))
            .SetPartitionsLostHandler((_, partitions) => Drop(partitions.Select(p => p.TopicPartition), "lost"))
            .SetErrorHandler((_, e) => logger.LogWarning("Kafka: {Reason}", e.Reason))
            .Build();
        consumer.Subscribe(_topic);
        logger.LogInformation(
            "S3 sink started: {Topic} -> s3://{Bucket}/{TopicsDir}/{Topic}/, FlushSize {FlushSize}, RotateInterval {RotateInterval}, group {GroupId}, DLQ {DeadLetterTopic}",
            _topic, _s3Options.Bucket, _options.TopicsDir, _topic, _options.FlushSize, _options.RotateInterval, _options.GroupId,
            dlq.Topic);

        try
        {
            await ConsumeLoopAsync(consumer, dlq, ct);

            // Graceful stop: store what is open so a restart does not read it again. (A crash skips this; the restart
            // then re-reads the open records from the bucket position, which is still correct.)
            using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                if (_open.Count > 0) await FlushAsync(consumer, [.. _open.Values], stopTimeout.Token);
            }
            catch (Exception e)
            {
                logger.LogWarning("Could not store the open objects at stop ({Error}); the next start re-reads them", e.Message);
            }
            LogSummary();
        }
        finally
        {
            // Also after a failure: leave the group at once (nothing is committed, open objects are dropped by the
            // revocation) so another instance takes the partitions over without waiting for the session timeout.
            try
            {
                consumer.Close();
            }
            catch (KafkaException e)
            {
                logger.LogWarning("Closing the Kafka consumer failed: {Error}", e.Error.Reason);
            }
        }
    }

    private async Task ConsumeLoopAsync(IConsumer<byte[]?, byte[]?> consumer, DeadLetterQueue dlq, CancellationToken ct)
    {
        var nextSummary = Now + _options.SummaryInterval;
        var nextLag = Now;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (_retryAt is null || Now >= _retryAt) await FlushDueAsync(consumer, ct);

                ConsumeResult<byte[]?, byte[]?>? record = null;
                try
                {
                    record = consumer.Consume(PollTimeout);
                }
                catch (ConsumeException e) when (!e.Error.IsFatal)
                {
                    PipelineTelemetry.Errors.Add(1, ServiceTag);
                    logger.LogWarning("Kafka consume error (retrying): {Reason}", e.Error.Reason);
                }
                if (record?.Message is not null && !record.IsPartitionEOF) await AcceptAsync(record, dlq, ct);

                if (Now >= nextLag)
                {
                    ReportLag(consumer);
                    nextLag = Now + LagInterval;
                }
                if (Now >= nextSummary)
                {
                    LogSummary();
                    nextSummary = Now + _options.SummaryInterval;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private static DateTimeOffset Now => TimeProvider.System.GetUtcNow();

    private IEnumerable<TopicPartitionOffset> OnAssigned(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartition> partitions, CancellationToken ct)
    {
        var committed = StartupRetry.WaitForAsync($"committed offsets of group {_options.GroupId}",
                _ => Task.FromResult(consumer.Committed(partitions, TimeSpan.FromSeconds(10))), logger, ct)
            .GetAwaiter().GetResult()
            .ToDictionary(o => o.TopicPartition, o => o.Offset.Value >= 0 ? o.Offset.Value : (long?)null);

        var lookups = partitions.Select(async tp =>
        {
            var committedOffset = committed.GetValueOrDefault(tp);
            var last = await StartupRetry.WaitForAsync($"S3 listing of {_topic} partition {tp.Partition.Value}",
                c => _positions.LastObjectAsync(tp.Partition.Value, committedOffset, c), logger, ct);
            return (Partition: tp, Last: last, Committed: committedOffset, Resume: ResumePosition.Choose(last?.EndOffset, committedOffset));
        });
        var positions = Task.WhenAll(lookups).GetAwaiter().GetResult();

        foreach (var p in positions)
        {
            var partition = p.Partition.Partition.Value;
            _open.Remove(partition);
            if (p.Resume is long resume) _next[partition] = resume;
            else _next.Remove(partition);
            logger.LogInformation(
                "Assigned {Topic} partition {Partition}: resuming at {Resume} (bucket ends at {BucketEnd} in {Key}, committed {Committed})",
                _topic, partition, p.Resume?.ToString(CultureInfo.InvariantCulture) ?? "the beginning",
                p.Last?.EndOffset.ToString(CultureInfo.InvariantCulture) ?? "-", p.Last?.Key ?? "-",
                p.Committed?.ToString(CultureInfo.InvariantCulture) ?? "-");
        }
        return positions.Select(p => new TopicPartitionOffset(p.Partition, p.Resume is long o ? new Offset(o) : Offset.Beginning));
    }

    /// <summary>Revoked or lost partitions: their open records are not stored nor committed; the next owner re-reads them.</summary>
    private void Drop(IEnumerable<TopicPartition> partitions, string why)
    {
        foreach (var tp in partitions)
        {
            var partition = tp.Partition.Value;
            if (_open.Remove(partition, out var buffer) && buffer.EndOffset > buffer.StartOffset)
            {
                logger.LogInformation("Partition {Partition} {Why}: dropping its open object (offsets {Start}-{End}); the next owner re-reads it",
                    partition, why, buffer.StartOffset, buffer.EndOffset - 1);
            }
            _next.Remove(partition);
        }
    }

    private async Task AcceptAsync(ConsumeResult<byte[]?, byte[]?> record, DeadLetterQueue dlq, CancellationToken ct)
    {
        PipelineTelemetry.RecordsIn.Add(1, ServiceTag);
        var partition = record.Partition.Value;
        var offset = record.Offset.Value;
        // Already stored or buffered (defensive: a re-delivery after a seek).
        if (_next.TryGetValue(partition, out var expected) && offset < expected) return;
        _next[partition] = offset + 1;
        if (!_open.TryGetValue(partition, out var buffer))
            _open[partition] = buffer = new PartitionBuffer(partition, offset, Now);

        var value = record.Message.Value;
        UserRecord user;
        try
        {
            user = Validate(value);
        }
        catch (InvalidRecordException e)
        {
            PipelineTelemetry.Errors.Add(1, ServiceTag);
            logger.LogWarning("{Topic} partition {Partition} offset {Offset}: {Error}; sending it to {DeadLetterTopic}",
                _topic, partition, offset, e.Message, dlq.Topic);
            await dlq.SendAsync(record, e, "deserialize", ct);
            _deadLettered++;
            buffer.Skip(offset);
            return;
        }
        buffer.Add(offset, value, user.UpdatedAt, PipelineTelemetry.Extract(record.Message.Headers));
    }

    /// <summary>The line is the value as received, so it must be one valid user record on one line.</summary>
    public static UserRecord Validate(byte[]? value)
    {
        if (value is null || value.Length == 0) throw new InvalidRecordException("value is empty (tombstone or empty message)");
        if (value.AsSpan().IndexOfAny((byte)'\n', (byte)'\r') >= 0)
            throw new InvalidRecordException("value contains a line break; JSON lines need one record per line");
        return UserRecordJson.Deserialize(value);
    }

    private async Task FlushDueAsync(IConsumer<byte[]?, byte[]?> consumer, CancellationToken ct)
    {
        var now = Now;
        var due = _open.Values.Where(b => _rotation.Check(b.Records, b.OpenedAt, now) != RotationReason.None).ToList();
        if (due.Count > 0) await FlushAsync(consumer, due, ct);
        else if (_paused) ResumeConsumption(consumer); // the failed objects' partitions were revoked meanwhile
    }

    /// <summary>
    /// PUTs the objects (in parallel across partitions), then commits the offsets of those stored. A failed PUT pauses
    /// consumption and is retried with backoff; its records stay in memory and nothing past them is committed.
    /// </summary>
    private async Task FlushAsync(IConsumer<byte[]?, byte[]?> consumer, List<PartitionBuffer> buffers, CancellationToken ct)
    {
        var puts = buffers.Select(async b => (Buffer: b, Key: Key(b), Error: b.Records == 0 ? null : await TryPutAsync(b, ct)));
        var results = await Task.WhenAll(puts);
        var stored = results.Where(r => r.Error is null).ToList();
        var failed = results.Where(r => r.Error is not null).ToList();

        if (stored.Count > 0)
        {
            var keys = stored.Where(r => r.Buffer.Records > 0).Select(r => r.Key).ToList();
            foreach (var hook in _hooks) await hook.AfterStoredAsync(keys, ct);
            Commit(consumer, stored.Select(r => r.Buffer));
            foreach (var r in stored) _open.Remove(r.Buffer.Partition);
        }

        if (failed.Count > 0)
        {
            PipelineTelemetry.Errors.Add(failed.Count, ServiceTag);
            _retryAt = Now + _backoff;
            foreach (var f in failed)
            {
                logger.LogWarning("S3 PUT of {Key} ({Records} records) failed: {Error}; retrying in {Delay} ms, consumption paused, offsets not committed",
                    f.Key, f.Buffer.Records, f.Error!.Message, (int)_backoff.TotalMilliseconds);
            }
            _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, _options.RetryBackoffMax.Ticks));
            if (!_paused && !ct.IsCancellationRequested)
            {
                consumer.Pause(consumer.Assignment);
                _paused = true;
            }
            return;
        }

        ResumeConsumption(consumer);
    }

    private void ResumeConsumption(IConsumer<byte[]?, byte[]?> consumer)
    {
        if (_paused)
        {
            logger.LogInformation("No S3 PUT pending any more; resuming consumption");
            consumer.Resume(consumer.Assignment);
            _paused = false;
        }
        _retryAt = null;
        _backoff = RetryBackoffMin;
    }

    private string Key(PartitionBuffer b) => ObjectKeys.ObjectKey(_options.TopicsDir, _topic, b.Partition, b.StartOffset);

    private async Task<Exception?> TryPutAsync(PartitionBuffer buffer, CancellationToken ct)
    {
        var key = Key(buffer);
        var request = S3Extensions.PlainPut(_s3Options.Bucket, key, buffer.Body, "application/x-ndjson");
        request.Metadata.Add(ObjectMetadata.Topic, _topic);
        request.Metadata.Add(ObjectMetadata.Partition, buffer.Partition.ToString(CultureInfo.InvariantCulture));
        request.Metadata.Add(ObjectMetadata.StartOffset, buffer.StartOffset.ToString(CultureInfo.InvariantCulture));
        request.Metadata.Add(ObjectMetadata.EndOffset, buffer.EndOffset.ToString(CultureInfo.InvariantCulture));
        request.Metadata.Add(ObjectMetadata.RecordCount, buffer.Records.ToString(CultureInfo.InvariantCulture));

        // One "s3 put" span per record that carried a trace context, each in its own record's trace.
        var spans = new List<Activity>();
        if (PipelineTelemetry.Source.HasListeners())
        {
            foreach (var parent in buffer.Traces)
            {
                var span = PipelineTelemetry.Source.StartActivity("s3 put", ActivityKind.Client, parent);
                if (span is null) continue;
                span.SetTag("aws.s3.bucket", _s3Options.Bucket);
                span.SetTag("aws.s3.key", key);
                span.SetTag("messaging.kafka.partition", buffer.Partition);
                span.SetTag("kafkapipeline.batch.size", buffer.Records);
                spans.Add(span);
            }
        }
        try
        {
            await _s3.PutObjectAsync(request, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            foreach (var span in spans) span.SetStatus(ActivityStatusCode.Error, e.Message);
            return e;
        }
        finally
        {
            foreach (var span in spans) span.Dispose();
        }

        var completed = Now.UtcDateTime;
        PipelineTelemetry.RecordsOut.Add(buffer.Records, ServiceTag);
        PipelineTelemetry.BatchSize.Record(buffer.Records, ServiceTag);
        foreach (var updatedAt in buffer.UpdatedAt)
            PipelineTelemetry.EndToEndLatency.Record((completed - updatedAt).TotalMilliseconds, SinkTag);
        if (buffer.UpdatedAt.Count > 0) _lastLatencyMs = (completed - buffer.UpdatedAt[^1]).TotalMilliseconds;
        Interlocked.Increment(ref _objects);
        Interlocked.Add(ref _records, buffer.Records);
        return null;
    }

    /// <summary>Advisory: the bucket decides where a partition resumes, so a failed commit only costs a longer listing.</summary>
    private void Commit(IConsumer<byte[]?, byte[]?> consumer, IEnumerable<PartitionBuffer> buffers)
    {
        var offsets = buffers.Select(b => new TopicPartitionOffset(_topic, new Partition(b.Partition), new Offset(b.EndOffset))).ToList();
        try
        {
            consumer.Commit(offsets);
        }
        catch (KafkaException e)
        {
            logger.LogWarning("Offset commit failed ({Error}); the bucket stays the resume point", e.Error.Reason);
        }
    }

    private void ReportLag(IConsumer<byte[]?, byte[]?> consumer)
    {
        long lag = 0;
        foreach (var tp in consumer.Assignment)
        {
            var watermarks = consumer.GetWatermarkOffsets(tp);
            if (watermarks.High.Value < 0) continue;
            var partition = tp.Partition.Value;
            // Not yet in S3: from the start of the open object (or the next offset to read) to the end of the partition.
            long? storedUpTo = _open.TryGetValue(partition, out var b) ? b.StartOffset
                : _next.TryGetValue(partition, out var n) ? n
                : watermarks.Low.Value >= 0 ? watermarks.Low.Value : null;
            if (storedUpTo is long s) lag += Math.Max(0, watermarks.High.Value - s);
        }
        _lag = lag;
        PipelineTelemetry.ReportLag(ServiceName, lag);
    }

    private void LogSummary()
    {
        var objects = Interlocked.Read(ref _objects);
        var records = Interlocked.Read(ref _records);
        logger.LogInformation(
            "S3 sink: {Objects} objects / {Records} records stored since last summary (total {TotalObjects} / {TotalRecords}), {DeadLettered} dead-lettered, lag {Lag}, latest end-to-end latency {LatencyMs} ms",
            objects - _summaryObjects, records - _summaryRecords, objects, records, _deadLettered, _lag,
            _lastLatencyMs is double ms ? Math.Round(ms, 1) : null);
        _summaryObjects = objects;
        _summaryRecords = records;
    }
}
