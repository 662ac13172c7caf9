namespace KafkaPipeline.Shared.Sinks;

/// <summary>Running totals of a sink, for its summary line and for tests.</summary>
public sealed class SinkProgress
{
    private long _consumed, _written, _deadLettered, _commits, _writeTicks, _stoppedPartitions, _staleRepeats;

    /// <summary>Records taken from Kafka into a batch (not necessarily stored yet).</summary>
    public long Consumed => Interlocked.Read(ref _consumed);

    /// <summary>Records the task reported durable (stored in the target).</summary>
    public long Written => Interlocked.Read(ref _written);

    public long DeadLettered => Interlocked.Read(ref _deadLettered);

    /// <summary>Streamed records skipped as repeats of what was written before (<see cref="StreamPosition"/>), committed past.</summary>
    public long StaleRepeats => Interlocked.Read(ref _staleRepeats);
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Partitions stopped with an error an operator must resolve (a resume offset beyond the partition's end or below its start, records deleted before they were read, or stopped by the task).</summary>
    public long StoppedPartitions => Interlocked.Read(ref _stoppedPartitions);

    /// <summary>Time spent in the task's writes (including failed attempts and backoff).</summary>
    public TimeSpan WriteTime => TimeSpan.FromTicks(Interlocked.Read(ref _writeTicks));

    public double? LastLatencyMs { get; internal set; }

    /// <summary>Messages between the committed offsets and the end of the assigned partitions; -1 before the first measurement.</summary>
    public long Lag { get; internal set; } = -1;

    internal void AddConsumed() => Interlocked.Increment(ref _consumed);
    internal void AddWritten(long n) => Interlocked.Add(ref _written, n);
    internal void AddDeadLettered(long n) => Interlocked.Add(ref _deadLettered, n);
    internal void AddStaleRepeats(long n) => Interlocked.Add(ref _staleRepeats, n);
    internal void AddCommit() => Interlocked.Increment(ref _commits);
    internal void AddWriteTime(TimeSpan t) => Interlocked.Add(ref _writeTicks, t.Ticks);
    internal void AddStoppedPartition() => Interlocked.Increment(ref _stoppedPartitions);
}
