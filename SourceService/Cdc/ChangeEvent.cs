using KafkaPipeline.Shared;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// One change of a row as it goes to Kafka: the key (the row's primary key, <see cref="Shared.Contract.EventKeys"/>),
/// the value (Kafka Connect's JSON with schema; null for a delete: a tombstone), and what its headers say
/// (<see cref="ChangeHeaders"/>) plus the row's trace context.
/// </summary>
public sealed record ChangeEvent(
    string Topic,
    byte[] Key,
    string Op,
    byte[]? Value,
    string? TraceParent,
    SourceVersion Version,
    long TxIndex,
    DateTime CommitTime,
    string Table,
    long? TxId = null,
    IReadOnlyCollection<string>? Unchanged = null)
{
    public StreamPosition Position => new(Version.CommitLsn, TxIndex);
}
