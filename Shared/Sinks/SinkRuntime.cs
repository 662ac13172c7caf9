using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KafkaPipeline.Shared.Sinks;

/// <summary>
/// Runs one <see cref="ISinkTask"/> against the sink's topics (one per table, one consumer group), in the spirit of
/// Kafka Connect's WorkerSinkTask. It owns the consumer and calls the task one step at a time: open newly assigned
/// partitions, put a batch (then dead-letter what the task refused to the dead-letter topic of each record's topic)
/// and ask which offsets are durable (preCommit), then commits exactly those.
/// <list type="bullet">
/// <item>Batching: a batch goes to the task when it is full (BatchSize) or as soon as nothing more waits in Kafka; while
/// one batch is written the next one is consumed, and the partitions are paused once it is full.</item>
/// <item>Backoff: a step whose target is down is retried with backoff (<see cref="Backoff"/>) while the consumer keeps
/// polling (rebalances are served, the group keeps the member) with the partitions paused.</item>
/// <item>Rebalances: on revocation the step in progress may finish its current attempt (and its offsets are committed),
/// its retries are called off; then the task closes the partitions and what was consumed for them is dropped (the
/// next owner reads it again). Lost partitions (the member was fenced) commit nothing.</item>
/// <item>Open: newly assigned partitions stay paused until the task said where they resume; a resume offset beyond the
/// end of the partition (the topic was recreated) stops that partition with an error and a metric, never a reset. A
/// task stops partitions the same way (<see cref="ISinkContext.StopPartitions"/>) at the first offset it did not store.</item>
/// <item>Retention gaps: a resume offset below the oldest record Kafka keeps, or records deleted while the sink lagged
/// (the consumer's reset moved past them), stop the partition with the missing range and the fix on /health, never a silent skip
/// (unless SinkOptions.AcceptRetentionGaps). A partition with no committed offset starts at the oldest record kept.</item>
/// <item>Stale repeats: a streamed record whose position is not above the newest seen in its partition and epoch
/// (<see cref="StreamPosition"/>) is not handed to the task, counted and committed past. The newest is seeded, when a
/// partition opens, from the record before its resume offset.</item>
/// </list>
/// The task's methods run on a background step, never two at once; the consumer is only polled on this loop.
/// </summary>
public sealed class SinkRuntime(
    ISinkTask task,
    SinkOptions options,
    FieldProtector protector,
    ProtectionOptions protection,
    SinkProgress progress,
    KafkaClients kafka,
    PipelineHealth health,
    ILogger<SinkRuntime> logger) : BackgroundService, ISinkContext
{
    private static readonly TimeSpan s_stepPoll = TimeSpan.FromMilliseconds(5);
    // With the next batch ready, the loop waits this long for the write in flight before it pauses the partitions and
    // polls on (a pause makes librdkafka drop what it prefetched, so it is kept for a target that is slow or down).
    private static readonly TimeSpan s_pauseAfter = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_idlePoll = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan s_lagInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_kafkaTimeout = TimeSpan.FromSeconds(10);
    // How long a revocation lets the attempt in progress finish, and how long a stop may take to store what is open.
    private static readonly TimeSpan s_attemptGrace = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_stopLimit = TimeSpan.FromSeconds(5);

    private static readonly System.Diagnostics.Metrics.Counter<long> s_staleRepeats = PipelineTelemetry.Meter.CreateCounter<long>(
        "kafkapipeline.sink.stale_repeats", "{record}", "Streamed records not above the newest position seen in their partition and epoch (repeats of a source that outlived its lease): skipped");

    private readonly IReadOnlyList<SinkTopic> _topics = options.Topics;
    private readonly KeyValuePair<string, object?> _serviceTag = new("service", options.Service);
    private readonly SinkDurability _durability = new(task, options, progress);
    private readonly SinkRecordReader _reader = new();

    // Assigned partitions move from opening (paused until the task's OpenAsync said where they resume) to ready, or to
    // stopped (an error an operator must resolve). Only records of ready partitions are taken.
    private readonly HashSet<TopicPartition> _opening = [], _ready = [], _stopped = [];
    private readonly List<ConsumeResult<byte[]?, byte[]?>> _pending = [];
    // Per partition: the offset after the last record handed to the task (put or dead-lettered), and the committed offset.
    private readonly Dictionary<TopicPartition, long> _putOffsets = [];
    private readonly ConcurrentDictionary<TopicPartition, long> _committed = new();
    // Partitions the task stopped, at the first offset it did not store (set from the task's steps, applied on the loop).
    private readonly ConcurrentDictionary<TopicPartition, long> _stopAt = new();
    // Per partition, the newest stream position handed over (stale repeats are not); steps work on a copy.
    private readonly Dictionary<TopicPartition, StreamPosition> _newest = [];
    // Per ready partition, the offset after the last record consumed (a jump past the low watermark is a retention gap).
    private readonly Dictionary<TopicPartition, long> _consumedTo = [];
    private readonly Dictionary<string, long> _lagByTopic = new(StringComparer.Ordinal);

    private IConsumer<byte[]?, byte[]?> _consumer = null!;
    // Reads the record before a resume offset (its position seeds the stale-repeat check); never joins the group.
    private IConsumer<byte[]?, byte[]?> _peek = null!;
    private DeadLetterQueue _dlq = null!;
    private Step? _step;
    private bool _backPressure, _assignedSincePoll;
    private Exception? _callbackFailure;
    private long _nextLagTicks, _nextSummaryTicks, _summaryStartTicks, _writtenAtSummary;

    private enum StepKind { Open, Write, Flush }

    /// <summary>One call sequence of the task running in the background, with the records it holds.</summary>
    private sealed class Step(StepKind kind, List<ConsumeResult<byte[]?, byte[]?>> messages, List<TopicPartition> partitions,
        Dictionary<TopicPartition, long> putOffsets, Dictionary<TopicPartition, StreamPosition>? newest = null)
    {
        public StepKind Kind { get; } = kind;
        /// <summary>Per partition, the newest stream position before this step (a copy: the step updates it).</summary>
        public Dictionary<TopicPartition, StreamPosition> Newest { get; } = newest ?? [];
        public List<ConsumeResult<byte[]?, byte[]?>> Messages { get; } = messages;
        public List<TopicPartition> Partitions { get; } = partitions;
        /// <summary>Per partition, the offset after the last record handed to the task before this step.</summary>
        public Dictionary<TopicPartition, long> PutOffsets { get; } = putOffsets;
        /// <summary>Calls off further attempts (a revocation, a stop); the attempt in progress goes on.</summary>
        public CancellationTokenSource StopRetrying { get; } = new();
        /// <summary>Aborts the attempt in progress: only when it outlasts a revocation's or a stop's patience.</summary>
        public CancellationTokenSource Abort { get; } = new();
        public Task<StepResult> Work { get; set; } = null!;
    }

    private sealed record StepResult(
        List<SinkRecord> Put, DateTime PutAt, Dictionary<TopicPartition, long> PutOffsets,
        IReadOnlyDictionary<TopicPartition, long> Durable, int DeadLettered, DateTime FinishedAt,
        Dictionary<TopicPartition, Opened>? Opened = null, int StaleRepeats = 0);

    private readonly record struct Opened(long Start, long? Committed, long Low, long High, StreamPosition? Newest);

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
                logger.LogCritical(e, "{Service} stopped: {Error}", options.Service, e.Message);
                throw;
            }
        }, CancellationToken.None);

    private async Task RunAsync(CancellationToken stopping)
    {
        if (protection.UsesDevelopmentKey)
            logger.LogWarning("Protection:Key is the local development key: set a secret of your own outside development");
        await Backoff.UntilDoneAsync(task.Target, "start-up", c => task.StartAsync(this, c), options.RetryBackoffMax, logger, stopping);

        using var dlq = _dlq = new DeadLetterQueue(kafka, _topics.ToDictionary(t => t.Topic, t => t.DeadLetterTopic), options.Service, protector, logger);
        using var peek = _peek = kafka.Consumer<byte[]?, byte[]?>(options.GroupId, options.Service + "-peek").Build();
        using var consumer = _consumer = kafka.Consumer<byte[]?, byte[]?>(options.GroupId, options.Service, config =>
            {
                foreach (var (key, value) in options.ConsumerOverrides) config.Set(key, value);
            })
            .SetErrorHandler((_, e) => logger.Log(e.IsFatal ? LogLevel.Error : LogLevel.Warning,
                "Kafka consumer: {Reason} ({Code}); librdkafka keeps reconnecting", e.Reason, e.Code))
            .SetPartitionsAssignedHandler((_, partitions) => OnAssigned(partitions))
            .SetPartitionsRevokedHandler((_, partitions) => OnRevoked([.. partitions.Select(p => p.TopicPartition)], lost: false))
            .SetPartitionsLostHandler((_, partitions) => OnRevoked([.. partitions.Select(p => p.TopicPartition)], lost: true))
            .Build();
        consumer.Subscribe(_topics.Select(t => t.Topic));
        logger.LogInformation("{Service} started: {Topics} (group {Group}) -> {Target}, batches of up to {BatchSize}, dead letters to {Dlq}",
            options.Service, string.Join(", ", _topics.Select(t => t.Topic)), options.GroupId, task.Target, options.BatchSize,
            string.Join(", ", _topics.Select(t => t.DeadLetterTopic).Distinct()));

        _summaryStartTicks = Environment.TickCount64;
        _nextSummaryTicks = _summaryStartTicks + (long)options.SummaryInterval.TotalMilliseconds;
        try
        {
            Loop(stopping);
            await StoreWhatIsOpenAsync();
            LogSummary();
        }
        finally
        {
            try
            {
                EndStep(commit: false, leaving: []);
            }
            catch (Exception e)
            {
                logger.LogWarning("Stopping: the step in progress ended with {Error}", e.Message);
            }
            try
            {
                // Leave the group at once: another instance takes the partitions over without waiting for the session timeout.
                consumer.Close();
            }
            catch (KafkaException e)
            {
                logger.LogWarning("Kafka consumer close: {Error}", e.Error.Reason);
            }
        }
    }

    private void Loop(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            var record = Consume(NextPollTimeout());
            if (_callbackFailure is { } failure) throw new InvalidOperationException(failure.Message, failure);
            if (_assignedSincePoll)
            {
                _assignedSincePoll = false;
                Pause(_opening); // until the task has said where they resume
            }
            if (record is not null && _ready.Contains(record.TopicPartition) && !SkipsDeletedRecords(record))
            {
                _pending.Add(record);
                progress.AddConsumed();
            }
            if (_step is not null && _pending.Count >= options.BatchSize && !_backPressure) Ended(_step.Work, s_pauseAfter);
            if (_step is { Work.IsCompleted: true } done)
            {
                _step = null;
                Finish(done, done.Work.GetAwaiter().GetResult(), commit: true);
            }
            if (_step is null) StartNextStep(nothingWaiting: record is null);
            ApplyBackPressure();
            Tick();
        }
    }

    private ConsumeResult<byte[]?, byte[]?>? Consume(TimeSpan timeout)
    {
        try
        {
            var record = _consumer.Consume(timeout);
            return record is null || record.IsPartitionEOF ? null : record;
        }
        catch (ConsumeException e) when (!e.Error.IsFatal)
        {
            PipelineTelemetry.Errors.Add(1, _serviceTag, new("stage", "consume"));
            logger.LogWarning("Kafka consume error: {Error}", e.Error.Reason);
            return null;
        }
    }

    private TimeSpan NextPollTimeout()
    {
        if (_step is not null) return s_stepPoll; // notice the step's end soon: its offsets are committed then
        if (_pending.Count > 0 || _opening.Count > 0) return TimeSpan.Zero; // take what waits, then write
        if (task.NextFlushAt is { } at)
        {
            var wait = at - DateTimeOffset.UtcNow;
            return wait <= TimeSpan.Zero ? TimeSpan.Zero : wait < s_idlePoll ? wait : s_idlePoll;
        }
        return s_idlePoll;
    }

    private void StartNextStep(bool nothingWaiting)
    {
        if (_opening.Count > 0)
        {
            var partitions = _opening.ToList();
            _opening.Clear();
            Start(new Step(StepKind.Open, [], partitions, []), OpenAsync);
        }
        else if (_pending.Count >= options.BatchSize || (_pending.Count > 0 && nothingWaiting))
        {
            var take = Math.Min(_pending.Count, options.BatchSize);
            var batch = _pending.GetRange(0, take);
            _pending.RemoveRange(0, take);
            PipelineTelemetry.RecordsIn.Add(take, _serviceTag);
            Start(new Step(StepKind.Write, batch, [], new(_putOffsets), new(_newest)), s => WriteAsync(s, force: false));
        }
        else if (_pending.Count == 0 && task.NextFlushAt <= DateTimeOffset.UtcNow)
        {
            Start(new Step(StepKind.Flush, [], [], new(_putOffsets), new(_newest)), s => WriteAsync(s, force: false));
        }
    }

    private void Start(Step step, Func<Step, Task<StepResult>> work)
    {
        step.Work = Task.Run(() => work(step));
        _step = step;
    }

    // --- the steps (background; they never touch the runtime's state, only return what happened) ---------------

    private async Task<StepResult> OpenAsync(Step step)
    {
        var partitions = step.Partitions;
        var committed = (await Retry("Kafka", "reading the group's committed offsets",
                () => Task.Run(() => _consumer.Committed(partitions, s_kafkaTimeout)), step))
            .ToDictionary(o => o.TopicPartition, o => o.Offset.Value >= 0 ? o.Offset.Value : (long?)null);
        var starts = await Retry(task.Target, $"opening partitions {Describe(partitions)}", () => task.OpenAsync(committed, step.Abort.Token), step);
        var opened = new Dictionary<TopicPartition, Opened>();
        foreach (var tp in partitions)
        {
            var marks = await Retry("Kafka", $"reading the watermarks of partition {tp.Partition.Value}",
                () => Task.Run(() => _consumer.QueryWatermarkOffsets(tp, s_kafkaTimeout)), step);
            var start = starts.GetValueOrDefault(tp) ?? committed.GetValueOrDefault(tp) ?? marks.Low.Value;
            var newest = start > marks.Low.Value && start <= marks.High.Value
                ? await Retry("Kafka", $"reading the record before the resume offset of {tp.Topic}/{tp.Partition.Value}", () => Task.Run(() => PositionBefore(tp, start)), step)
                : null;
            opened[tp] = new Opened(start, committed.GetValueOrDefault(tp), marks.Low.Value, marks.High.Value, newest);
        }
        return new StepResult([], DateTime.UtcNow, [], new Dictionary<TopicPartition, long>(), 0, DateTime.UtcNow, opened);
    }

    /// <summary>The stream position of the record just before <paramref name="offset"/>, if it has one (the peek consumer, on the step).</summary>
    private StreamPosition? PositionBefore(TopicPartition tp, long offset)
    {
        _peek.Assign(new TopicPartitionOffset(tp, offset - 1));
        try
        {
            var deadline = DateTime.UtcNow + s_kafkaTimeout;
            while (DateTime.UtcNow < deadline)
            {
                if (_peek.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } r)
                    return r.Offset.Value < offset ? StreamPosition.Of(ChangeSource.From(r.Message.Headers)) : null;
            }
            throw new KafkaException(new Error(ErrorCode.Local_TimedOut, $"no record before offset {offset} within {s_kafkaTimeout.TotalSeconds} s"));
        }
        finally
        {
            _peek.Unassign();
        }
    }

    private async Task<StepResult> WriteAsync(Step step, bool force)
    {
        var watch = Stopwatch.StartNew();
        var putAt = DateTime.UtcNow;
        var (read, errant) = _reader.Read(step.Messages);
        var (records, stale) = StaleRepeats.Split(read, step.Newest);
        if (stale.Count > 0) LogStale(stale);
        if (records.Count > 0)
            errant.AddRange(await Retry(task.Target, $"writing {records.Count} records", () => task.PutAsync(records, step.Abort.Token), step));
        errant.RemoveAll(e => IsStopped(e.Message.TopicPartition, e.Message.Offset.Value)); // read again after the fix, not dead-lettered
        if (errant.Count > 0) await _dlq.SendAllAsync(errant, options.RetryBackoffMax, step.StopRetrying.Token, step.Abort.Token);

        var putOffsets = new Dictionary<TopicPartition, long>();
        foreach (var m in step.Messages)
            putOffsets[m.TopicPartition] = Math.Max(putOffsets.GetValueOrDefault(m.TopicPartition), m.Offset.Value + 1);
        var all = new Dictionary<TopicPartition, long>(step.PutOffsets);
        foreach (var (tp, o) in putOffsets) all[tp] = Math.Max(all.GetValueOrDefault(tp), o);
        var durable = await Retry(task.Target, force ? "storing everything buffered" : "storing",
            () => task.PreCommitAsync(all, force, step.Abort.Token), step);
        progress.AddWriteTime(watch.Elapsed);
        return new StepResult(records, putAt, putOffsets, durable, errant.Count, DateTime.UtcNow, StaleRepeats: stale.Count);
    }

    private void LogStale(List<SinkRecord> stale)
    {
        s_staleRepeats.Add(stale.Count, _serviceTag);
        foreach (var partition in stale.GroupBy(r => r.TopicPartition))
        {
            logger.LogWarning("Skipped {Count} stale repeats in {Topic}/{Partition} (offsets {First}..{Last}, e.g. {Position}): not above the newest " +
                "position already seen in their epoch, so written before (a source that delivered after its lease was taken over)",
                partition.Count(), partition.Key.Topic, partition.Key.Partition.Value, partition.First().Offset, partition.Last().Offset, StreamPosition.Of(partition.First().Source));
        }
    }

    /// <summary>
    /// Attempts run to their end (unless aborted); a revocation or a stop only calls off the next ones. So a put that
    /// started is always followed by one preCommit: what it stored is committed.
    /// </summary>
    private Task<T> Retry<T>(string target, string what, Func<Task<T>> attempt, Step step) =>
        Backoff.UntilDoneAsync(target, what, _ => attempt(), options.RetryBackoffMax, logger, step.StopRetrying.Token);

    // --- step results (loop thread) ------------------------------------------------------------------------------

    private void Finish(Step step, StepResult result, bool commit)
    {
        if (result.Opened is { } opened)
        {
            foreach (var (tp, o) in opened) Open(tp, o);
            return;
        }
        foreach (var (tp, o) in result.PutOffsets)
        {
            if (_ready.Contains(tp)) _putOffsets[tp] = Math.Max(_putOffsets.GetValueOrDefault(tp), o);
        }
        foreach (var (tp, position) in step.Newest)
        {
            if (_ready.Contains(tp)) _newest[tp] = position;
        }
        progress.AddDeadLettered(result.DeadLettered);
        progress.AddStaleRepeats(result.StaleRepeats);
        if (step.Messages.Count > 0) PipelineTelemetry.BatchSize.Record(step.Messages.Count, _serviceTag);
        _durability.Follow(result.Put.Where(r => _ready.Contains(r.TopicPartition)), result.PutAt);
        var durable = _stopAt.IsEmpty ? result.Durable
            : result.Durable.ToDictionary(kv => kv.Key, kv => _stopAt.TryGetValue(kv.Key, out var at) ? Math.Min(at, kv.Value) : kv.Value);
        if (commit) Commit(durable);
        _durability.Durable(durable, result.FinishedAt);
        ApplyStops();
    }

    private bool IsStopped(TopicPartition tp, long offset) => _stopAt.TryGetValue(tp, out var at) && offset >= at;

    /// <inheritdoc />
    public void StopPartitions(IReadOnlyDictionary<TopicPartition, long> firstUnstored)
    {
        foreach (var (tp, offset) in firstUnstored) _stopAt.AddOrUpdate(tp, offset, (_, at) => Math.Min(at, offset));
    }

    /// <summary>The partitions the task stopped leave the ready set: paused, their consumed records dropped, nothing more followed.</summary>
    private void ApplyStops()
    {
        foreach (var (tp, at) in _stopAt)
        {
            if (!_ready.Contains(tp)) continue;
            Stop(tp);
            logger.LogWarning("Partition {Topic}/{Partition} stopped at offset {Offset} by {Target}: nothing more is read or committed for it " +
                "until it is revoked or the sink restarts", tp.Topic, tp.Partition.Value, at, task.Target);
        }
    }

    /// <summary>A partition leaves the ready set: paused, its consumed records dropped, nothing more read or committed for it.</summary>
    private void Stop(TopicPartition tp)
    {
        _ready.Remove(tp);
        _stopped.Add(tp);
        _putOffsets.Remove(tp);
        _newest.Remove(tp);
        _consumedTo.Remove(tp);
        _pending.RemoveAll(m => m.TopicPartition == tp);
        _durability.Forget(tp);
        _consumer.Pause([tp]);
        progress.AddStoppedPartition();
        PipelineTelemetry.PartitionsStopped.Add(1, _serviceTag);
    }

    /// <summary>Stops a partition for an error of the runtime's own (logged, and on /health until the partition is revoked).</summary>
    private void Stop(TopicPartition tp, string error)
    {
        Stop(tp);
        logger.LogError("{Error}", error);
        health.Report(HealthKey(tp), Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, error);
    }

    private static string HealthKey(TopicPartition tp) => $"partition {tp.Topic}/{tp.Partition.Value}";

    private string RetentionGap(TopicPartition tp, long from, string where) =>
        $"Partition {tp.Topic}/{tp.Partition.Value} stopped: the records from offset {from} {where} were deleted by Kafka's retention before " +
        "this sink stored them, so the target misses them. Nothing is read or committed for the partition. To go on without them, " +
        $"reset the group's offset deliberately (kafka-consumer-groups --group {options.GroupId} --topic {tp.Topic}:{tp.Partition.Value} " +
        $"--reset-offsets --to-earliest --execute) or start the sink once with {options.SettingsSection}:AcceptRetentionGaps=true, then restart it " +
        "(and reload the missing rows from the source if they matter).";

    private void Open(TopicPartition tp, Opened o)
    {
        if (o.Committed is long c) _committed[tp] = c;
        var start = o.Start;
        if (start > o.High)
        {
            // Offsets mean something else now (the topic was recreated): reading on would silently skip or repeat records.
            Stop(tp,
                $"Partition {tp.Topic}/{tp.Partition.Value} stopped: it should resume at offset {start}, beyond its end ({o.High}); the topic was " +
                "probably recreated. Nothing is read or committed for it until an operator resets the group's offsets (or the " +
                "target's position) and restarts the sink.");
            return;
        }
        if (start < o.Low)
        {
            PipelineTelemetry.Errors.Add(1, _serviceTag, new("stage", "retention"));
            if (!options.AcceptRetentionGaps)
            {
                Stop(tp, RetentionGap(tp, start, $"to {o.Low - 1} (it resumes at {start}, the oldest record kept is at {o.Low})"));
                return;
            }
            logger.LogError("Partition {Topic}/{Partition}: offsets {Start}..{Last} were deleted from Kafka before this sink stored them; " +
                "resuming at {Low} ({Setting}=true)", tp.Topic, tp.Partition.Value, start, o.Low - 1, o.Low, $"{options.SettingsSection}:AcceptRetentionGaps");
            start = o.Low;
        }
        if (o.Newest is { } newest) _newest[tp] = newest;
        try
        {
            _consumer.Seek(new TopicPartitionOffset(tp, start));
        }
        catch (KafkaException e)
        {
            logger.LogWarning("Seeking {Topic}/{Partition} to {Start} failed ({Error}); opening it again", tp.Topic, tp.Partition.Value, start, e.Error.Reason);
            _opening.Add(tp);
            return;
        }
        _ready.Add(tp);
        _putOffsets[tp] = start;
        _consumedTo[tp] = start;
        if (!_backPressure) _consumer.Resume([tp]);
        logger.LogInformation("Opened {Topic} partition {Partition}: resuming at offset {Start} (committed {Committed}, end {High})",
            tp.Topic, tp.Partition.Value, start, o.Committed?.ToString(CultureInfo.InvariantCulture) ?? "none", o.High);
    }

    /// <summary>
    /// True when the record comes after records retention deleted before the sink read them (the consumer's
    /// auto.offset.reset moved past them): the partition is stopped with the missing range on /health, unless
    /// AcceptRetentionGaps. A gap of another kind (transaction markers, compaction) has no such low watermark.
    /// </summary>
    private bool SkipsDeletedRecords(ConsumeResult<byte[]?, byte[]?> record)
    {
        var tp = record.TopicPartition;
        var expected = _consumedTo.GetValueOrDefault(tp, record.Offset.Value);
        _consumedTo[tp] = record.Offset.Value + 1;
        if (record.Offset.Value <= expected) return false;
        var low = _consumer.GetWatermarkOffsets(tp).Low; // cached from the fetch responses: no broker call
        if (low == Offset.Unset || low.Value <= expected) return false;
        PipelineTelemetry.Errors.Add(1, _serviceTag, new("stage", "retention"));
        if (options.AcceptRetentionGaps)
        {
            logger.LogError("Partition {Topic}/{Partition}: offsets {From}..{To} were deleted from Kafka before this sink read them; " +
                "going on ({Setting}=true)", tp.Topic, tp.Partition.Value, expected, record.Offset.Value - 1, $"{options.SettingsSection}:AcceptRetentionGaps");
            return false;
        }
        Stop(tp, RetentionGap(tp, expected, $"to {record.Offset.Value - 1} (the sink was reading there)"));
        return true;
    }

    /// <summary>Commits the durable offsets that moved; a failed commit is only logged (the next one covers it).</summary>
    private void Commit(IReadOnlyDictionary<TopicPartition, long> durable)
    {
        var moved = durable
            .Where(kv => _ready.Contains(kv.Key) && (!_committed.TryGetValue(kv.Key, out var c) || kv.Value > c))
            .Select(kv => new TopicPartitionOffset(kv.Key, kv.Value)).ToList();
        if (moved.Count == 0) return;
        try
        {
            _consumer.Commit(moved);
            foreach (var o in moved) _committed.AddOrUpdate(o.TopicPartition, o.Offset.Value, (_, c) => Math.Max(c, o.Offset.Value));
            progress.AddCommit();
        }
        catch (KafkaException e)
        {
            logger.LogWarning("Offset commit failed ({Error}); the records are stored, the next commit covers them", e.Error.Reason);
        }
    }

    /// <inheritdoc />
    public void ConfirmOwnership(TopicPartition partition, long offset)
    {
        try
        {
            _consumer.Commit([new TopicPartitionOffset(partition, offset)]);
        }
        catch (KafkaException e)
        {
            throw new InvalidOperationException(
                $"{partition.Topic}/{partition.Partition.Value} is not confirmed as this instance's in the group's current generation " +
                $"({e.Error.Code}: {e.Error.Reason}); nothing is written for it", e);
        }
        _committed.AddOrUpdate(partition, offset, (_, c) => Math.Max(c, offset));
    }

    // --- rebalances (inside Consume, on the loop thread) ---------------------------------------------------------

    private void OnAssigned(List<TopicPartition> partitions)
    {
        logger.LogInformation("Assigned partitions {Partitions}", Describe(partitions));
        _opening.UnionWith(partitions);
        _assignedSincePoll = true;
    }

    private void OnRevoked(List<TopicPartition> partitions, bool lost)
    {
        try
        {
            var dropped = _pending.Count(m => partitions.Contains(m.TopicPartition));
            if (lost)
                logger.LogWarning("Lost partitions {Partitions} (this instance was out of the group): nothing is committed for them; dropped {Dropped} uncommitted records",
                    Describe(partitions), dropped);
            else
                logger.LogInformation("Revoked partitions {Partitions}; dropped {Dropped} uncommitted records (they are read again by the next owner)",
                    Describe(partitions), dropped);
            EndStep(commit: !lost, leaving: partitions);
            task.Close(partitions);
            var set = partitions.ToHashSet();
            _pending.RemoveAll(m => set.Contains(m.TopicPartition));
            foreach (var tp in partitions)
            {
                _opening.Remove(tp);
                _ready.Remove(tp);
                if (_stopped.Remove(tp)) health.Clear(HealthKey(tp));
                _newest.Remove(tp);
                _consumedTo.Remove(tp);
                _stopAt.TryRemove(tp, out _);
                _putOffsets.Remove(tp);
                _committed.TryRemove(tp, out _);
                _durability.Forget(tp);
            }
        }
        catch (Exception e)
        {
            // An exception must not unwind through librdkafka's callback: the loop rethrows it after Consume.
            _callbackFailure ??= e;
        }
    }

    /// <summary>
    /// Calls off the step's retries and waits for its attempt in progress (aborting it after a grace period). A step that
    /// completed is finished (its offsets committed when <paramref name="commit"/>); a step called off gives the records
    /// of partitions that stay back to the pending batch.
    /// </summary>
    private void EndStep(bool commit, List<TopicPartition> leaving)
    {
        if (_step is not { } step) return;
        _step = null;
        step.StopRetrying.Cancel();
        if (!Ended(step.Work, s_attemptGrace))
        {
            logger.LogWarning("The {Target} attempt in progress did not end within {Seconds} s: aborting it", task.Target, s_attemptGrace.TotalSeconds);
            step.Abort.Cancel();
            if (!Ended(step.Work, s_attemptGrace))
                logger.LogError("The {Target} attempt in progress ignores its cancellation; going on without it", task.Target);
        }
        try
        {
            if (step.Work.IsCompletedSuccessfully) Finish(step, step.Work.Result, commit);
            else step.Work.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            _pending.InsertRange(0, step.Messages.Where(m => !leaving.Contains(m.TopicPartition)));
            _opening.UnionWith(step.Partitions.Where(p => !leaving.Contains(p)));
        }
    }

    private static bool Ended(Task task, TimeSpan timeout)
    {
        try
        {
            return task.Wait(timeout);
        }
        catch (AggregateException)
        {
            return true; // ended with an error: the caller reads it
        }
    }

    // --- flow control, stop, lag and summary -------------------------------------------------------------------

    /// <summary>While a step is still in flight after the wait for it and the next batch is full, the ready partitions are paused.</summary>
    private void ApplyBackPressure()
    {
        var want = _step is { Work.IsCompleted: false } && _pending.Count >= options.BatchSize;
        if (want == _backPressure) return;
        _backPressure = want;
        if (want) Pause(_ready);
        else if (_ready.Count > 0) _consumer.Resume(_ready);
    }

    private void Pause(IEnumerable<TopicPartition> partitions)
    {
        var list = partitions.ToList();
        if (list.Count > 0) _consumer.Pause(list);
    }

    /// <summary>On a graceful stop: store what was consumed and what the task holds (a few seconds at most).</summary>
    private async Task StoreWhatIsOpenAsync()
    {
        using var limit = new CancellationTokenSource(s_stopLimit);
        try
        {
            if (_step is { } running)
            {
                await using var stop = limit.Token.Register(() => Cancel(running));
                var result = await running.Work;
                _step = null;
                Finish(running, result, commit: true);
            }
            if (_pending.Count == 0 && task.NextFlushAt is null) return;
            var last = new Step(StepKind.Write, [.. _pending], [], new(_putOffsets), new(_newest));
            _pending.Clear();
            await using var stopLast = limit.Token.Register(() => Cancel(last));
            Finish(last, await WriteAsync(last, force: true), commit: true);
        }
        catch (OperationCanceledException)
        {
            _step = null;
            logger.LogWarning("Stopping: what was consumed but not stored within {Seconds} s is not committed; it is read again at the next start",
                s_stopLimit.TotalSeconds);
        }

        static void Cancel(Step step)
        {
            step.StopRetrying.Cancel();
            step.Abort.Cancel();
        }
    }

    private void Tick()
    {
        var now = Environment.TickCount64;
        if (now >= _nextLagTicks)
        {
            _nextLagTicks = now + (long)s_lagInterval.TotalMilliseconds;
            progress.Lag = MeasureLag();
            if (progress.Lag >= 0) PipelineTelemetry.ReportLag(options.Service, progress.Lag);
        }
        if (now >= _nextSummaryTicks) LogSummary();
    }

    /// <summary>Messages between the committed offset and the end of each ready partition (cached watermarks, no broker call), also per topic.</summary>
    private long MeasureLag()
    {
        _lagByTopic.Clear();
        if (_ready.Count == 0) return _opening.Count + _stopped.Count == 0 ? -1 : 0;
        long lag = 0;
        foreach (var tp in _ready)
        {
            var w = _consumer.GetWatermarkOffsets(tp);
            if (w.High == Offset.Unset) continue;
            var from = _committed.TryGetValue(tp, out var c) ? c : _putOffsets.GetValueOrDefault(tp);
            var behind = Math.Max(0, w.High.Value - from);
            lag += behind;
            _lagByTopic[tp.Topic] = _lagByTopic.GetValueOrDefault(tp.Topic) + behind;
        }
        return lag;
    }

    private void LogSummary()
    {
        var now = Environment.TickCount64;
        var seconds = (now - _summaryStartTicks) / 1000.0;
        var written = progress.Written;
        var interval = written - _writtenAtSummary;
        var lagByTopic = _topics.Count > 1 && _lagByTopic.Count > 0
            ? $" ({string.Join(", ", _lagByTopic.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key} {t.Value}"))})"
            : "";
        logger.LogInformation(
            "{Service}: {Records} records stored in {Seconds:0.0} s ({Rate:0}/s), {Total} in total, {DeadLettered} dead-lettered, {Stale} stale repeats skipped, " +
            "lag {Lag}{LagByTopic}, last end-to-end latency {Latency} ms{Stopped}",
            options.Service, interval, seconds, seconds > 0 ? interval / seconds : 0, written, progress.DeadLettered, progress.StaleRepeats,
            progress.Lag >= 0 ? progress.Lag : "unknown", lagByTopic, progress.LastLatencyMs is { } l ? Math.Round(l, 1) : "n/a",
            _stopped.Count > 0 ? $", STOPPED partitions {Describe(_stopped)}" : "");
        _writtenAtSummary = written;
        _summaryStartTicks = now;
        _nextSummaryTicks = now + (long)options.SummaryInterval.TotalMilliseconds;
    }

    /// <summary>"0, 2" when the sink reads one topic, else "P_ORDERS/0, P_USERS/2".</summary>
    private string Describe(IEnumerable<TopicPartition> partitions) => _topics.Count == 1
        ? string.Join(", ", partitions.Select(p => p.Partition.Value).Order())
        : string.Join(", ", partitions.OrderBy(p => p.Topic, StringComparer.Ordinal).ThenBy(p => p.Partition.Value).Select(p => $"{p.Topic}/{p.Partition.Value}"));
}
