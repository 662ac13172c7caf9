using Confluent.Kafka;
using KafkaPipeline.Shared;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>A parsed record and the message it came from.</summary>
public sealed record PendingRow(ConsumeResult<byte[]?, byte[]?> Source, UserRecord User);

/// <summary>A message that cannot be written, and why; it goes to the dead-letter topic.</summary>
public sealed record RejectedRecord(ConsumeResult<byte[]?, byte[]?> Source, Exception Error, string Stage);

/// <summary>
/// The records consumed since the last commit. Records of partitions revoked in a rebalance are dropped: their offsets
/// were not committed, so the partitions' new owner receives them again.
/// </summary>
public sealed class SinkBatch
{
    private readonly List<ConsumeResult<byte[]?, byte[]?>> _records = [];

    public IReadOnlyList<ConsumeResult<byte[]?, byte[]?>> Records => _records;
    public int Count => _records.Count;

    /// <summary>When the first record arrived (for BatchLinger and the span start).</summary>
    public DateTimeOffset? StartedAt { get; private set; }
    public long StartedTicks { get; private set; }

    public void Add(ConsumeResult<byte[]?, byte[]?> record)
    {
        if (_records.Count == 0)
        {
            StartedAt = DateTimeOffset.UtcNow;
            StartedTicks = Environment.TickCount64;
        }
        _records.Add(record);
    }

    public void Drop(IEnumerable<TopicPartition> partitions)
    {
        var set = partitions.ToHashSet();
        _records.RemoveAll(r => set.Contains(r.TopicPartition));
    }

    public void Clear()
    {
        _records.Clear();
        StartedAt = null;
    }

    /// <summary>Offset to commit per partition: one past the last record of the batch (written or dead-lettered).</summary>
    public List<TopicPartitionOffset> NextOffsets() =>
        _records.GroupBy(r => r.TopicPartition)
            .Select(g => new TopicPartitionOffset(g.Key, new Offset(g.Max(r => r.Offset.Value) + 1)))
            .ToList();

    /// <summary>Parses every record; what fails is rejected with the parser's reason.</summary>
    public (List<PendingRow> Rows, List<RejectedRecord> Rejected) Parse()
    {
        var rows = new List<PendingRow>(_records.Count);
        var rejected = new List<RejectedRecord>();
        foreach (var record in _records)
        {
            try
            {
                var value = record.Message.Value;
                if (value is null || value.Length == 0)
                    throw new InvalidRecordException("value is empty (a tombstone?): deletes are not supported by the MySQL sink");
                rows.Add(new PendingRow(record, UserRecordJson.Deserialize(value)));
            }
            catch (InvalidRecordException e)
            {
                rejected.Add(new RejectedRecord(record, e, "deserialize"));
            }
        }
        return (rows, rejected);
    }

    /// <summary>
    /// One row per id: the last version wins. Within a partition "last" is the highest offset (Kafka's order for a key);
    /// should one id ever arrive on two partitions, the newer updated_at wins. Sorted by id, the primary key, so the
    /// inserts walk the index in order.
    /// </summary>
    public static List<PendingRow> LastVersionWins(IEnumerable<PendingRow> rows)
    {
        var byId = new Dictionary<long, PendingRow>();
        foreach (var row in rows)
        {
            if (!byId.TryGetValue(row.User.Id, out var kept) || IsNewer(row, kept)) byId[row.User.Id] = row;
        }
        var result = byId.Values.ToList();
        result.Sort((a, b) => a.User.Id.CompareTo(b.User.Id));
        return result;
    }

    private static bool IsNewer(PendingRow candidate, PendingRow kept) =>
        candidate.Source.TopicPartition == kept.Source.TopicPartition
            ? candidate.Source.Offset.Value > kept.Source.Offset.Value
            : candidate.User.UpdatedAt >= kept.User.UpdatedAt;
}
