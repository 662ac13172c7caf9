using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>Where an event is in the change stream: its transaction's commit LSN, then its ordinal in that transaction.</summary>
public readonly record struct StreamPosition(ulong CommitLsn, long Index) : IComparable<StreamPosition>
{
    public int CompareTo(StreamPosition other)
    {
        var c = CommitLsn.CompareTo(other.CommitLsn);
        return c != 0 ? c : Index.CompareTo(other.Index);
    }

    public static bool operator <=(StreamPosition a, StreamPosition b) => a.CompareTo(b) <= 0;
    public static bool operator >=(StreamPosition a, StreamPosition b) => a.CompareTo(b) >= 0;
    public static bool operator <(StreamPosition a, StreamPosition b) => a.CompareTo(b) < 0;
    public static bool operator >(StreamPosition a, StreamPosition b) => a.CompareTo(b) > 0;

    public override string ToString() => $"{SourceVersion.FormatLsn(CommitLsn)}#{Index}";
}

/// <summary>
/// Per partition, the stream position of the newest streamed change event of the session's epoch it holds (read from
/// the headers of its last messages; positions of another epoch are another history and are never compared). The source writes each partition in stream order with an idempotent producer, so what a partition holds
/// is a prefix of what was sent to it: after a crash PostgreSQL re-sends from the confirmed LSN, and an event at or
/// below its partition's tail is already there.
/// </summary>
public sealed class ChangeTail
{
    private readonly IReadOnlyDictionary<(string Topic, int Partition), StreamPosition> _last;

    private ChangeTail(IReadOnlyDictionary<(string Topic, int Partition), StreamPosition> last) => _last = last;

    public IReadOnlyDictionary<(string Topic, int Partition), StreamPosition> Last => _last;

    public bool Holds(string topic, int partition, StreamPosition position) => _last.TryGetValue((topic, partition), out var last) && position <= last;

    /// <summary>
    /// The stream position of a change event that came from the slot's stream, or null for anything else: polling
    /// records, foreign messages, and the snapshot's rows and tombstones (change LSN 0). Those are never re-sent by the
    /// stream, and their commit LSN, the consistent point, can equal the commit LSN of the first streamed transaction
    /// (its commit record may start exactly there), so they must not count as the stream's tail.
    /// </summary>
    public static StreamPosition? StreamedPosition(Headers? headers, SourceEpoch epoch)
    {
        var version = ChangeHeaders.ReadVersion(headers);
        return version.HasLsn && version.ChangeLsn != 0 && ChangeHeaders.ReadTxIndex(headers) is { } index
            && ChangeHeaders.ReadEpoch(headers) == epoch
            ? new StreamPosition(version.CommitLsn, index)
            : null;
    }

    public static ChangeTail Read(KafkaClients kafka, IReadOnlyDictionary<string, int> topics, SourceEpoch epoch, TimeSpan timeout)
    {
        using var consumer = kafka.Consumer<byte[]?, byte[]?>(groupId: "source-tail-reader", clientId: "source-tail-reader").Build();
        var last = new Dictionary<(string, int), StreamPosition>();
        foreach (var (topic, partitions) in topics)
        {
            for (var p = 0; p < partitions; p++)
            {
                var tp = new TopicPartition(topic, p);
                var marks = consumer.QueryWatermarkOffsets(tp, timeout);
                if (marks.High <= marks.Low) continue;
                // A few messages back: one written by someone else at the very end must not hide the tail.
                consumer.Assign(new TopicPartitionOffset(tp, Math.Max(marks.Low.Value, marks.High.Value - 50)));
                var deadline = DateTime.UtcNow + timeout;
                while (true)
                {
                    if (DateTime.UtcNow > deadline) throw new TimeoutException($"could not read the tail of {topic} partition {p} within {timeout}");
                    var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
                    if (result is null || result.IsPartitionEOF) continue;
                    if (StreamedPosition(result.Message.Headers, epoch) is { } position && (!last.TryGetValue((topic, p), out var seen) || position > seen))
                        last[(topic, p)] = position;
                    if (result.Offset.Value >= marks.High.Value - 1) break;
                }
                consumer.Unassign();
            }
        }
        return new ChangeTail(last);
    }
}
