using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.Shared;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// What the topic says each key's current value is (a hash of the newest value; absent after a tombstone), read from
/// its start to its end. A new snapshot compares against it when the topic is not empty (a snapshot cut short by a
/// crash, a slot that was dropped or invalidated, a switch from a polling mode): rows the topic already holds as they
/// are now are not sent again, and keys the table no longer has get a tombstone.
/// </summary>
public static class TopicState
{
    /// <returns>
    /// Each key's latest value hash (null when no partition holds a message: a new topic, nothing to compare against), and
    /// the highest epoch ordinal of the topic's events (0 when none carries one).
    /// </returns>
    public static (Dictionary<string, UInt128>? Latest, long HighestEpoch) Read(KafkaClients kafka, string topic, int partitions, CancellationToken ct)
    {
        using var consumer = kafka.Consumer<byte[]?, byte[]?>(groupId: "source-state-reader", clientId: "source-state-reader").Build();
        var latest = new Dictionary<string, UInt128>(StringComparer.Ordinal);
        var pending = new Dictionary<int, long>();
        var assignment = new List<TopicPartitionOffset>();
        for (var p = 0; p < partitions; p++)
        {
            var marks = consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10));
            if (marks.High <= marks.Low) continue;
            pending[p] = marks.High.Value;
            assignment.Add(new TopicPartitionOffset(topic, p, marks.Low));
        }
        long highestEpoch = 0;
        if (assignment.Count == 0) return (null, 0);
        consumer.Assign(assignment);
        while (pending.Count > 0)
        {
            ct.ThrowIfCancellationRequested();
            var r = consumer.Consume(TimeSpan.FromMilliseconds(500));
            if (r is null || r.IsPartitionEOF) continue;
            var p = r.Partition.Value;
            if (!pending.TryGetValue(p, out var high) || r.Offset.Value >= high) continue;
            highestEpoch = Math.Max(highestEpoch, ChangeHeaders.ReadEpoch(r.Message.Headers).Ordinal);
            if (r.Message.Key is { Length: > 0 } key)
            {
                var id = Encoding.UTF8.GetString(key);
                if (r.Message.Value is null) latest.Remove(id);
                else latest[id] = Hash(r.Message.Value);
            }
            if (r.Offset.Value >= high - 1) pending.Remove(p);
        }
        return (latest, highestEpoch);
    }

    public static UInt128 Hash(ReadOnlySpan<byte> value)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(value, digest);
        return BinaryPrimitives.ReadUInt128LittleEndian(digest);
    }
}
