using System.Diagnostics;
using Confluent.Kafka;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.Shared.Sinks;

/// <summary>
/// What a sink does with the records (Kafka Connect's SinkTask): open partitions, put records, say which offsets are
/// durable, close partitions. The <see cref="SinkRuntime"/> owns everything else: the consumer, batching, commits,
/// backoff, the dead-letter topic, rebalances, lag and metrics. It never calls two of these methods at once.
/// <para>
/// Errors: an exception from a method means "the target is unavailable, try again later": the runtime pauses and calls
/// it again with the same records after a backoff. <see cref="NotRetriableException"/> stops the service. Records the
/// target refuses for their content are returned by <see cref="PutAsync"/> and dead-lettered.
/// </para>
/// </summary>
public interface ISinkTask
{
    /// <summary>Where the records go, for log lines such as "Waiting for {Target}" (no secrets).</summary>
    string Target { get; }

    /// <summary>Name of the span each traced record gets when it is durable ("mysql write", "s3 put").</summary>
    string SpanName { get; }

    /// <summary>Once, before consuming: create the table or bucket, check the target's layout.</summary>
    Task StartAsync(ISinkContext context, CancellationToken ct);

    /// <summary>
    /// Newly assigned partitions, with the group's committed offsets (null when none). Returns where each partition
    /// resumes; null keeps the committed offset (or the beginning when there is none).
    /// </summary>
    Task<IReadOnlyDictionary<TopicPartition, long?>> OpenAsync(IReadOnlyDictionary<TopicPartition, long?> committed, CancellationToken ct);

    /// <summary>
    /// Writes or buffers the records (valid user records and deletes, in offset order within each partition). A record
    /// seen before (redelivered after a retry) must not be stored twice. Returns the records the target refuses.
    /// </summary>
    Task<IReadOnlyList<ErrantRecord>> PutAsync(IReadOnlyList<SinkRecord> records, CancellationToken ct);

    /// <summary>
    /// Stores what is due (everything when <paramref name="force"/>) and returns, per partition, the offset before which
    /// every record is durable. <paramref name="putOffsets"/>: per partition the offset after the last record handed over
    /// (put or dead-lettered); a task that stores in <see cref="PutAsync"/> returns it as it is.
    /// </summary>
    Task<IReadOnlyDictionary<TopicPartition, long>> PreCommitAsync(IReadOnlyDictionary<TopicPartition, long> putOffsets, bool force, CancellationToken ct);

    /// <summary>Partitions revoked or lost: forget what is buffered for them (the next owner reads it again).</summary>
    void Close(IReadOnlyCollection<TopicPartition> partitions);

    /// <summary>When buffered records must be stored next (the runtime then calls <see cref="PreCommitAsync"/>); null when nothing waits.</summary>
    DateTimeOffset? NextFlushAt { get; }

    /// <summary>Adds the target's tags (table, object key) to the span of a durable record.</summary>
    void Describe(Activity span, TopicPartition partition, long offset);
}

/// <summary>What the runtime offers a task.</summary>
public interface ISinkContext
{
    /// <summary>
    /// Proves this instance still owns <paramref name="partition"/> in the group's current generation by committing
    /// <paramref name="offset"/> (an offset before which everything is already stored) synchronously. Throws when the
    /// group has moved on (the member was fenced): nothing may then be written for the partition.
    /// </summary>
    void ConfirmOwnership(TopicPartition partition, long offset);

    /// <summary>
    /// Stops partitions for an error only an operator can resolve (a schema change the target cannot take), until they
    /// are revoked or the service restarts. Each value is the first offset the task did not store: the committed offset
    /// stays there (the task's <see cref="ISinkTask.PreCommitAsync"/> returns it too), the partition is paused, and no
    /// record at or after it is handed to the task again or dead-lettered. The task says why (log, /health).
    /// Thread-safe: a task calls it from <see cref="ISinkTask.PutAsync"/>.
    /// </summary>
    void StopPartitions(IReadOnlyDictionary<TopicPartition, long> firstUnstored);
}

/// <summary>
/// What a record's headers say about where it comes from (<see cref="ChangeHeaders"/>): the operation, the table, the
/// epoch and position in the source's log, the commit time. Records of the polling modes carry no LSN and no epoch.
/// </summary>
public sealed record ChangeSource(string? Op, string? Table, SourceEpoch Epoch, SourceVersion Version, long? TxIndex, long? TxId, DateTime? CommitTime)
{
    public static ChangeSource From(Headers? headers) => new(
        ChangeHeaders.ReadOp(headers), ChangeHeaders.ReadTable(headers), ChangeHeaders.ReadEpoch(headers), ChangeHeaders.ReadVersion(headers),
        ChangeHeaders.ReadTxIndex(headers), ChangeHeaders.ReadTxId(headers), ChangeHeaders.ReadCommitTime(headers));
}

/// <summary>
/// A record handed to a task: a row version (upsert) or a delete (a tombstone), keyed by the message key's text
/// (<see cref="EventKeys"/>).
/// </summary>
public sealed record SinkRecord(ConsumeResult<byte[]?, byte[]?> Message, string Key, RowImage? Row, ChangeSource Source)
{
    public bool IsDelete => Row is null;
    public TopicPartition TopicPartition => Message.TopicPartition;
    public long Offset => Message.Offset.Value;

    /// <summary>The PostgreSQL commit time when the record carries it (source.commit_ts).</summary>
    public DateTime? CommitTime => Source.CommitTime;

    /// <summary>The time that orders versions without an LSN: the commit time, else when Kafka got the record.</summary>
    public DateTime VersionTime => Source.CommitTime ?? Message.Message.Timestamp.UtcDateTime;

    /// <summary>
    /// True when this version is newer than <paramref name="other"/> (of the same key): a higher epoch is newer; within
    /// one epoch the commit and change LSN decide when both have one, else the version time. Equal versions are not newer.
    /// </summary>
    public bool IsNewerThan(SinkRecord other)
    {
        if (!Source.Version.HasLsn || !other.Source.Version.HasLsn) return VersionTime > other.VersionTime;
        if (Source.Epoch.Ordinal != other.Source.Epoch.Ordinal) return Source.Epoch.Ordinal > other.Source.Epoch.Ordinal;
        return Source.Version > other.Source.Version;
    }
}

/// <summary>A record that cannot be stored, and why; the runtime dead-letters it.</summary>
public sealed record ErrantRecord(ConsumeResult<byte[]?, byte[]?> Message, Exception Error, string Stage);
