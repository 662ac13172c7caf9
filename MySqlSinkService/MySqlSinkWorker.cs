using System.Diagnostics;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>Connection strings the sink was started with (read and checked once at start-up).</summary>
public sealed record SinkConnections(string MySql);

/// <summary>Running totals, for the summary line and for tests.</summary>
public sealed class MySqlSinkProgress
{
    private long _consumed, _written, _deadLettered, _commits, _writeTicks;

    /// <summary>Records taken into a batch (consumed, not necessarily written yet).</summary>
    public long Consumed => Interlocked.Read(ref _consumed);
    public long Written => Interlocked.Read(ref _written);
    public long DeadLettered => Interlocked.Read(ref _deadLettered);
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Time spent in MySQL writes (transactions, including failed attempts).</summary>
    public TimeSpan WriteTime => TimeSpan.FromTicks(Interlocked.Read(ref _writeTicks));

    internal void AddConsumed() => Interlocked.Increment(ref _consumed);
    internal void AddWriteTime(TimeSpan t) => Interlocked.Add(ref _writeTicks, t.Ticks);
    public double? LastLatencyMs { get; internal set; }
    public long Lag { get; internal set; } = -1;

    internal void Committed(long written, long deadLettered)
    {
        Interlocked.Add(ref _written, written);
        Interlocked.Add(ref _deadLettered, deadLettered);
        Interlocked.Increment(ref _commits);
    }
}

/// <summary>
/// Consumes the topic, writes batches to MySQL and commits the Kafka offsets only after the MySQL transaction
/// committed (and the batch's bad records were acknowledged by the dead-letter topic). At-least-once delivery made
/// exactly-once in effect by the idempotent upsert.
/// One batch is written on a background task while the next one is consumed; never two writes at once, and a batch's
/// offsets are committed before the next write starts, so batches reach MySQL and Kafka in order.
/// </summary>
public sealed class MySqlSinkWorker(
    IOptions<MySqlSinkOptions> options,
    SinkConnections connections,
    KafkaClients kafka,
    MySqlSinkProgress progress,
    ILogger<MySqlSinkWorker> logger) : BackgroundService
{
    private const string ServiceName = "mysql-sink";
    private static readonly KeyValuePair<string, object?> s_serviceTag = new("service", ServiceName);
    private static readonly KeyValuePair<string, object?> s_sinkTag = new("sink", "mysql");
    private static readonly TimeSpan s_lagInterval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan s_firstRetryDelay = TimeSpan.FromMilliseconds(250);
    // Waiting longer than this for the previous write (MySQL slow or down) pauses the partitions while polling.
    private static readonly TimeSpan s_pauseAfter = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_stopLimit = TimeSpan.FromSeconds(5);

    private readonly MySqlSinkOptions _options = options.Value;
    // The batch being consumed; the one being written (at most one) is _inFlight.
    private SinkBatch _batch = new();
    private InFlightWrite? _inFlight;
    // Records that arrived from newly assigned partitions while a batch was being retried; they start the next batch.
    private readonly List<ConsumeResult<byte[]?, byte[]?>> _carry = [];
    private readonly Dictionary<TopicPartition, long> _committed = [];
    private long _nextLagTicks, _nextSummaryTicks, _writtenAtLastSummary, _summaryStartTicks;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // Consume blocks: keep it off the host's start-up path.
        Task.Run(async () =>
        {
            try
            {
                await RunAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                logger.LogCritical(e, "MySQL sink stopped: {Error}", e.Message);
                throw;
            }
        }, CancellationToken.None);

    private async Task RunAsync(CancellationToken ct)
    {
        var o = _options;
        var table = new UsersTable(o.Table, o.InsertMode);
        await UsersTableSetup.EnsureAsync(connections.MySql, table, logger, ct);
        var writer = new MySqlUserWriter(connections.MySql, table, o.StatementRows);

        using var dlq = new DeadLetterQueue(
            kafka.Producer<byte[]?, byte[]?>(ServiceName + "-dlq").Build(),
            o.EffectiveDeadLetterTopic, ServiceName);
        using var consumer = kafka.Consumer<byte[]?, byte[]?>(o.GroupId, ServiceName)
            .SetErrorHandler((_, e) => logger.Log(e.IsFatal ? LogLevel.Error : LogLevel.Warning,
                "Kafka consumer: {Reason} ({Code}); librdkafka keeps reconnecting", e.Reason, e.Code))
            .SetPartitionsAssignedHandler((_, partitions) =>
                logger.LogInformation("Assigned partitions {Partitions}", string.Join(", ", partitions.Select(p => p.Partition.Value))))
            .SetPartitionsRevokedHandler((_, partitions) => OnRevoked(partitions.Select(p => p.TopicPartition).ToList()))
            .Build();
        consumer.Subscribe(o.EffectiveTopic);
        logger.LogInformation(
            "MySQL sink started: topic {Topic} (group {GroupId}) -> MySQL {Server} table {Table}, mode {Mode}, batch {BatchSize}/{Linger} ms, DLQ {Dlq}",
            o.EffectiveTopic, o.GroupId, UsersTableSetup.Describe(connections.MySql), table.Name, o.InsertMode,
            o.BatchSize, (int)o.BatchLinger.TotalMilliseconds, dlq.Topic);

        _summaryStartTicks = Environment.TickCount64;
        _nextSummaryTicks = _summaryStartTicks + (long)o.SummaryInterval.TotalMilliseconds;
        // Writes run on their own token: a stop lets them finish (within s_stopLimit) instead of aborting them.
        using var writes = new CancellationTokenSource();
        try
        {
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    var record = NextRecord(consumer);
                    if (record is not null)
                    {
                        _batch.Add(record);
                        progress.AddConsumed();
                        PipelineTelemetry.RecordsIn.Add(1, s_serviceTag);
                    }
                    if (_batch.Count >= o.BatchSize ||
                        (_batch.Count > 0 && Environment.TickCount64 - _batch.StartedTicks >= (long)o.BatchLinger.TotalMilliseconds))
                    {
                        await FlushAsync(consumer, writer, dlq, writes.Token, ct);
                    }
                    else if (_inFlight is { Task.IsCompleted: true })
                    {
                        await CompleteWriteAsync(consumer, ct); // commit its offsets now, not at the next flush
                    }
                    Tick(consumer);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Stopped while waiting for a write: the final flush below still gives it its chance.
            }
            await FinalFlushAsync(consumer, writer, dlq, writes);
        }
        finally
        {
            // Never leave a write running on a closed consumer and a disposed dead-letter producer.
            await writes.CancelAsync();
            if (_inFlight is not null)
            {
                try
                {
                    await _inFlight.Task;
                }
                catch (Exception)
                {
                    // Cancelled, or its error was already thrown from the loop.
                }
            }
            // Records not yet written are not committed: the group hands them out again (to us or another instance).
            try
            {
                consumer.Close();
            }
            catch (KafkaException e)
            {
                logger.LogWarning("Kafka consumer close: {Error}", e.Message);
            }
        }
    }

    /// <summary>
    /// On a graceful stop, writes and commits what was already consumed (a few seconds at most), so a restart does not
    /// replay it. Giving up is safe: nothing uncommitted is lost, it is redelivered.
    /// </summary>
    private async Task FinalFlushAsync(IConsumer<byte[]?, byte[]?> consumer, MySqlUserWriter writer, DeadLetterQueue dlq,
        CancellationTokenSource writes)
    {
        if (_batch.Count == 0 && _inFlight is null) return;
        writes.CancelAfter(s_stopLimit);
        try
        {
            if (_batch.Count > 0) await FlushAsync(consumer, writer, dlq, writes.Token, writes.Token);
            await CompleteWriteAsync(consumer, writes.Token);
        }
        catch (OperationCanceledException)
        {
            logger.LogWarning("Stopping: {Count} consumed records not written in time; they are redelivered on the next start",
                _batch.Count + (_inFlight?.Batch.Count ?? 0));
        }
    }

    private ConsumeResult<byte[]?, byte[]?>? NextRecord(IConsumer<byte[]?, byte[]?> consumer)
    {
        if (_carry.Count > 0)
        {
            var carried = _carry[0];
            _carry.RemoveAt(0);
            return carried;
        }
        // An empty batch waits up to 1 s (so the summary and lag keep ticking; 100 ms while a write is in flight, so its
        // offsets are committed soon after it ends); a partial one only for its linger.
        var timeout = _batch.Count == 0
            ? TimeSpan.FromMilliseconds(_inFlight is null ? 1000 : 100)
            : TimeSpan.FromMilliseconds(Math.Max(0, (long)_options.BatchLinger.TotalMilliseconds - (Environment.TickCount64 - _batch.StartedTicks)));
        try
        {
            var record = consumer.Consume(timeout);
            return record is null || record.IsPartitionEOF ? null : record;
        }
        catch (ConsumeException e)
        {
            PipelineTelemetry.Errors.Add(1, s_serviceTag, new("stage", "consume"));
            logger.LogWarning("Kafka consume error: {Error}", e.Error.Reason);
            return null;
        }
    }

    private void OnRevoked(List<TopicPartition> partitions)
    {
        // Not committed, so redelivered to the partitions' next owner: dropping is correct (and never blocks the rebalance).
        var before = _batch.Count + _carry.Count;
        _batch.Drop(partitions);
        var set = partitions.ToHashSet();
        _carry.RemoveAll(r => set.Contains(r.TopicPartition));
        foreach (var p in partitions) _committed.Remove(p);
        if (_inFlight is { } write)
        {
            // The batch being written may hold records of these partitions. Wait for a MySQL attempt in progress (the
            // new owner must not write them before it), then leave them out of any retry and do not commit their offsets.
            write.AttemptGate.Wait();
            try
            {
                write.Revoked.UnionWith(partitions);
            }
            finally
            {
                write.AttemptGate.Release();
            }
        }
        logger.LogInformation("Revoked partitions {Partitions}; dropped {Dropped} uncommitted records (they are redelivered)",
            string.Join(", ", partitions.Select(p => p.Partition.Value)), before - _batch.Count - _carry.Count);
    }

    /// <summary>Waits for the previous write (and commits its offsets), then starts writing the batch consumed since.</summary>
    private async Task FlushAsync(IConsumer<byte[]?, byte[]?> consumer, MySqlUserWriter writer, DeadLetterQueue dlq,
        CancellationToken writeCt, CancellationToken ct)
    {
        await CompleteWriteAsync(consumer, ct);
        if (_batch.Count == 0) return; // a rebalance during the wait took its records away
        _inFlight = new InFlightWrite(_batch, w => WriteAsync(w, writer, dlq, writeCt));
        _batch = new SinkBatch();
    }

    /// <summary>
    /// Waits for the write in flight, polling the consumer so rebalances are served and the group keeps this member;
    /// then commits the offsets of the partitions still owned. A no-op without a write in flight.
    /// </summary>
    private async Task CompleteWriteAsync(IConsumer<byte[]?, byte[]?> consumer, CancellationToken ct)
    {
        if (_inFlight is not { } write) return;
        var paused = false;
        if (!write.Task.IsCompleted) await Task.WhenAny(write.Task, Task.Delay(s_pauseAfter, ct));
        if (!write.Task.IsCompleted)
        {
            // MySQL is slow or down and the write retries: consume nothing more (the next batch is already here).
            consumer.Pause(consumer.Assignment);
            paused = true;
            while (!write.Task.IsCompleted) PollWhileWaiting(consumer, TimeSpan.FromMilliseconds(100), ct);
        }
        var result = await write.Task;
        _inFlight = null;

        // Kafka offsets: one past the last record of each partition, written or dead-lettered; none for partitions
        // revoked meanwhile (their new owner reads them again, and the upsert makes the rewrite harmless).
        var offsets = write.Batch.NextOffsets().Where(o => !write.Revoked.Contains(o.TopicPartition)).ToList();
        if (offsets.Count > 0)
        {
            try
            {
                consumer.Commit(offsets);
                foreach (var o in offsets) _committed[o.TopicPartition] = o.Offset.Value;
            }
            catch (KafkaException e)
            {
                // The rows are in MySQL; the records come again and the upsert leaves them unchanged.
                PipelineTelemetry.Errors.Add(1, s_serviceTag, new("stage", "commit"));
                logger.LogWarning("Kafka offset commit failed ({Error}); the batch will be redelivered and rewritten idempotently", e.Error.Reason);
            }
        }

        Record(result.Parsed, result.Written, result.Rejected, write.Batch.StartedAt ?? DateTimeOffset.UtcNow, result.CommittedAt);
        progress.Committed(result.Written.Count, result.Rejected.Count);
        if (paused) consumer.Resume(consumer.Assignment);
    }

    /// <summary>Runs on a background task: parses the batch, writes it to MySQL, dead-letters what cannot be written.</summary>
    private async Task<WriteResult> WriteAsync(InFlightWrite write, MySqlUserWriter writer, DeadLetterQueue dlq, CancellationToken ct)
    {
        var (parsed, rejected) = write.Batch.Parse();
        var rows = _options.InsertMode == InsertMode.Upsert ? SinkBatch.LastVersionWins(parsed) : parsed;
        List<PendingRow> written = [];
        List<(PendingRow Row, MySqlConnector.MySqlException Error)> failures = [];

        // 1. MySQL: one transaction for the batch, retried until it commits (never skipped).
        await RetryAsync("MySQL", write.Batch.Count, async () =>
        {
            await write.AttemptGate.WaitAsync(ct);
            var watch = Stopwatch.StartNew();
            try
            {
                // Records of partitions revoked since the batch was taken are their new owner's to write.
                var toWrite = write.Revoked.Count == 0 ? rows : rows.Where(r => !write.Revoked.Contains(r.Source.TopicPartition)).ToList();
                failures = writer.Write(toWrite);
                var failed = failures.Select(f => f.Row).ToHashSet();
                written = failed.Count == 0 ? toWrite : toWrite.Where(r => !failed.Contains(r)).ToList();
            }
            finally
            {
                progress.AddWriteTime(watch.Elapsed);
                write.AttemptGate.Release();
            }
        }, ct);
        var committedAt = DateTime.UtcNow;
        rejected.AddRange(failures.Select(f => new RejectedRecord(f.Row.Source, f.Error, "mysql-write")));

        // 2. Dead-letter topic: every bad record acknowledged before its offset is committed.
        if (rejected.Count > 0)
        {
            foreach (var r in rejected)
            {
                logger.LogWarning("Dead-lettering {Topic}/{Partition}@{Offset} to {Dlq} ({Stage}): {Error}",
                    r.Source.Topic, r.Source.Partition.Value, r.Source.Offset.Value, dlq.Topic, r.Stage, r.Error.Message);
                PipelineTelemetry.Errors.Add(1, s_serviceTag, new("stage", r.Stage));
            }
            await RetryAsync("the dead-letter topic " + dlq.Topic, rejected.Count,
                () => Task.WhenAll(rejected.Select(r => dlq.SendAsync(r.Source, r.Error, r.Stage, ct))), ct);
        }
        return new WriteResult(parsed, written, rejected, committedAt);
    }

    /// <summary>A batch handed to the background writer.</summary>
    private sealed class InFlightWrite
    {
        public InFlightWrite(SinkBatch batch, Func<InFlightWrite, Task<WriteResult>> write)
        {
            Batch = batch;
            Task = System.Threading.Tasks.Task.Run(() => write(this), CancellationToken.None);
        }

        public SinkBatch Batch { get; }
        public Task<WriteResult> Task { get; }

        /// <summary>Held during each MySQL attempt; a revocation takes it to wait for the attempt to end.</summary>
        public SemaphoreSlim AttemptGate { get; } = new(1, 1);

        /// <summary>Partitions revoked since the write started (guarded by AttemptGate while the write runs).</summary>
        public HashSet<TopicPartition> Revoked { get; } = [];
    }

    private sealed record WriteResult(List<PendingRow> Parsed, List<PendingRow> Written, List<RejectedRecord> Rejected, DateTime CommittedAt);

    /// <summary>
    /// Runs <paramref name="action"/> until it succeeds, backing off exponentially up to RetryBackoffMax. Meanwhile the
    /// consume loop fills at most the next batch, then pauses the partitions and keeps polling (see CompleteWriteAsync).
    /// </summary>
    private async Task RetryAsync(string waitingFor, int count, Func<Task> action, CancellationToken ct)
    {
        var delay = s_firstRetryDelay;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await action();
                if (attempt > 1) logger.LogInformation("{What} is back: batch written after {Attempts} attempts", waitingFor, attempt);
                return;
            }
            catch (Exception e) when (!ct.IsCancellationRequested && !MySqlUserWriter.IsDataError(e))
            {
                PipelineTelemetry.Errors.Add(1, s_serviceTag, new("stage", "retry"));
                logger.LogWarning("Waiting for {What}: writing {Count} records failed (attempt {Attempt}), retrying in {Delay} ms: {Error}",
                    waitingFor, count, attempt, (int)delay.TotalMilliseconds, e.Message);
                await Task.Delay(delay, ct);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.RetryBackoffMax.Ticks));
            }
        }
    }

    private void PollWhileWaiting(IConsumer<byte[]?, byte[]?> consumer, TimeSpan delay, CancellationToken ct)
    {
        var until = Environment.TickCount64 + (long)delay.TotalMilliseconds;
        for (var left = delay; left > TimeSpan.Zero && !ct.IsCancellationRequested;
             left = TimeSpan.FromMilliseconds(until - Environment.TickCount64))
        {
            try
            {
                var record = consumer.Consume(left < TimeSpan.FromMilliseconds(500) ? left : TimeSpan.FromMilliseconds(500));
                if (record is { IsPartitionEOF: false })
                {
                    // A partition assigned during the outage: keep its record for the next batch and pause it too.
                    _carry.Add(record);
                    consumer.Pause([record.TopicPartition]);
                }
            }
            catch (ConsumeException e)
            {
                logger.LogWarning("Kafka consume error while waiting: {Error}", e.Error.Reason);
            }
        }
        ct.ThrowIfCancellationRequested();
    }

    private void Record(List<PendingRow> parsed, List<PendingRow> written, List<RejectedRecord> rejected,
        DateTimeOffset startedAt, DateTime committedAt)
    {
        PipelineTelemetry.BatchSize.Record(parsed.Count + rejected.Count, s_serviceTag);
        PipelineTelemetry.RecordsOut.Add(written.Count, s_serviceTag);
        foreach (var row in written)
        {
            PipelineTelemetry.EndToEndLatency.Record((committedAt - row.User.UpdatedAt).TotalMilliseconds, s_sinkTag);
        }
        if (written.Count > 0)
        {
            progress.LastLatencyMs = (committedAt - written.MaxBy(r => r.User.UpdatedAt)!.User.UpdatedAt).TotalMilliseconds;
        }

        // One "mysql write" span per record that carries a trace, covering the batch from its first record to the commit.
        if (!PipelineTelemetry.Source.HasListeners()) return;
        var failed = rejected.Where(r => r.Stage == "mysql-write").ToDictionary(r => r.Source, r => r.Error.Message);
        foreach (var row in parsed)
        {
            var parent = PipelineTelemetry.Extract(row.Source.Message.Headers);
            if (parent == default) continue;
            using var activity = PipelineTelemetry.Source.StartActivity("mysql write", ActivityKind.Client, parent, startTime: startedAt);
            if (activity is null) continue;
            activity.SetTag("db.system.name", "mysql");
            activity.SetTag("db.collection.name", _options.Table);
            activity.SetTag("db.operation.name", _options.InsertMode == InsertMode.Upsert ? "upsert" : "insert");
            activity.SetTag("messaging.destination.name", row.Source.Topic);
            activity.SetTag("messaging.kafka.partition", row.Source.Partition.Value);
            activity.SetTag("messaging.kafka.offset", row.Source.Offset.Value);
            activity.SetTag("user.id", row.User.Id);
            activity.SetTag("batch.size", parsed.Count);
            if (failed.TryGetValue(row.Source, out var error)) activity.SetStatus(ActivityStatusCode.Error, error);
        }
    }

    private void Tick(IConsumer<byte[]?, byte[]?> consumer)
    {
        var now = Environment.TickCount64;
        if (now >= _nextLagTicks || now >= _nextSummaryTicks)
        {
            _nextLagTicks = now + (long)s_lagInterval.TotalMilliseconds;
            progress.Lag = MeasureLag(consumer);
            if (progress.Lag >= 0) PipelineTelemetry.ReportLag(ServiceName, progress.Lag);
        }
        if (now >= _nextSummaryTicks)
        {
            var seconds = (now - _summaryStartTicks) / 1000.0;
            var written = progress.Written;
            var interval = written - _writtenAtLastSummary;
            logger.LogInformation(
                "MySQL sink: {Rows} rows written in {Seconds:0.0} s ({Rate:0} rows/s), {Total} in total, {DeadLettered} dead-lettered, lag {Lag}, last end-to-end latency {Latency} ms",
                interval, seconds, seconds > 0 ? interval / seconds : 0, written, progress.DeadLettered,
                progress.Lag >= 0 ? progress.Lag : "unknown", progress.LastLatencyMs is { } l ? Math.Round(l, 1) : "n/a");
            _writtenAtLastSummary = written;
            _summaryStartTicks = now;
            _nextSummaryTicks = now + (long)_options.SummaryInterval.TotalMilliseconds;
        }
    }

    /// <summary>Messages between the committed position and the end of each assigned partition (cached watermarks, no broker call).</summary>
    private long MeasureLag(IConsumer<byte[]?, byte[]?> consumer)
    {
        long lag = 0;
        var known = false;
        foreach (var tp in consumer.Assignment)
        {
            var w = consumer.GetWatermarkOffsets(tp);
            if (w.High == Offset.Unset) continue;
            long from;
            if (_committed.TryGetValue(tp, out var committed)) from = committed;
            else if (consumer.Position(tp) is { } pos && pos != Offset.Unset) from = pos.Value;
            else from = w.Low == Offset.Unset ? 0 : w.Low.Value;
            lag += Math.Max(0, w.High.Value - from);
            known = true;
        }
        return known ? lag : (consumer.Assignment.Count == 0 ? -1 : 0);
    }
}
