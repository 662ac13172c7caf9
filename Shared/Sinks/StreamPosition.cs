using Confluent.Kafka;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.Shared.Sinks;

/// <summary>
/// Where a streamed change stands in the source's log: its epoch, the commit LSN of its transaction and its ordinal in
/// it (source.tx_index). Within one epoch the source writes a partition's records in increasing positions; a record
/// whose position is not above the newest one already seen there repeats what was written before (a source frozen past
/// its lease that delivers, when it wakes, events its successor wrote already: the embedded Kafka cannot fence it).
/// Only streamed changes have a position: snapshot rows (change LSN 0) and records without an epoch (polling) do not.
/// </summary>
public readonly record struct StreamPosition(SourceEpoch Epoch, ulong CommitLsn, long TxIndex)
{
    public static StreamPosition? Of(ChangeSource source) =>
        source.Epoch.IsNone || source.Version.ChangeLsn == 0 || source.Version.CommitLsn == 0 || source.TxIndex is not long index
            ? null
            : new StreamPosition(source.Epoch, source.Version.CommitLsn, index);

    /// <summary>Same epoch, and not above <paramref name="newest"/>.</summary>
    public bool Repeats(StreamPosition newest) =>
        Epoch == newest.Epoch && (CommitLsn < newest.CommitLsn || (CommitLsn == newest.CommitLsn && TxIndex <= newest.TxIndex));

    public override string ToString() => $"epoch {Epoch.Ordinal} {SourceVersion.FormatLsn(CommitLsn)}#{TxIndex}";
}

/// <summary>
/// Per partition, the newest position seen (<see cref="StreamPosition"/>), and the records of a batch that repeat an
/// older one. A record of a higher epoch starts the partition's new history; one of a lower epoch is handed on (the
/// task orders versions across epochs) and leaves the newest as it is.
/// </summary>
public static class StaleRepeats
{
    /// <param name="newest">Per partition, the newest position before these records; updated with theirs.</param>
    /// <returns>The records that are not stale repeats and those that are, each in their order.</returns>
    public static (List<SinkRecord> Fresh, List<SinkRecord> Stale) Split(IReadOnlyList<SinkRecord> records, Dictionary<TopicPartition, StreamPosition> newest)
    {
        var fresh = new List<SinkRecord>(records.Count);
        var stale = new List<SinkRecord>();
        foreach (var r in records)
        {
            if (StreamPosition.Of(r.Source) is not { } position)
            {
                fresh.Add(r);
                continue;
            }
            var tp = r.TopicPartition;
            if (newest.TryGetValue(tp, out var seen))
            {
                if (position.Repeats(seen))
                {
                    stale.Add(r);
                    continue;
                }
                if (position.Epoch == seen.Epoch || position.Epoch.Ordinal > seen.Epoch.Ordinal) newest[tp] = position;
            }
            else
            {
                newest[tp] = position;
            }
            fresh.Add(r);
        }
        return (fresh, stale);
    }
}
