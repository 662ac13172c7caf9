using KafkaPipeline.Shared;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// One change of a users row as it goes to Kafka: key = id, value = the row's JSON (null for a delete: a tombstone),
/// headers from <see cref="ChangeHeaders"/> plus the row's trace context.
/// </summary>
public sealed record ChangeEvent(
    long Id,
    string Op,
    byte[]? Value,
    string? TraceParent,
    SourceVersion Version,
    long TxIndex,
    DateTime CommitTime)
{
    public StreamPosition Position => new(Version.CommitLsn, TxIndex);
}
