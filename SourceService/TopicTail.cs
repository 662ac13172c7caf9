using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.SourceService;

/// <summary>
/// What the topic already holds: partition count and, per partition, the source position of its last message.
/// The source writes each partition in position order, so a row whose position is at or below its partition's tail
/// was already delivered (by an earlier run that died before saving its position) and must not be sent again.
/// </summary>
public sealed class TopicTail
{
    public required int PartitionCount { get; init; }
    public required IReadOnlyDictionary<int, SourcePosition> LastPositions { get; init; }
    public required bool IsEmpty { get; init; }

    public static TopicTail Read(KafkaClients kafka, string topic, Func<TableSchema, object?[], SourcePosition> positionOf, TimeSpan timeout)
    {
        var partitions = ReadPartitionCount(kafka.BootstrapServers, topic, timeout);
        using var consumer = kafka.Consumer<byte[]?, byte[]?>(groupId: "source-tail-reader", clientId: "source-tail-reader").Build();

        var last = new Dictionary<int, SourcePosition>();
        var events = new ChangeEventReader();
        var isEmpty = true;
        for (var p = 0; p < partitions; p++)
        {
            var tp = new TopicPartition(topic, p);
            var marks = consumer.QueryWatermarkOffsets(tp, timeout);
            if (marks.High > 0) isEmpty = false;
            if (marks.High <= marks.Low) continue;
            // Read back a few messages: a malformed one at the very end (written by someone else) must not hide the tail.
            var from = Math.Max(marks.Low.Value, marks.High.Value - 50);
            consumer.Assign(new TopicPartitionOffset(tp, from));
            var deadline = DateTime.UtcNow + timeout;
            while (DateTime.UtcNow < deadline)
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
                if (result is null) continue;
                try
                {
                    if (result.Message.Value is null) throw new InvalidRecordException("a tombstone");
                    var row = events.Read(result.Message.Value);
                    var position = positionOf(row.Schema, row.Values);
                    if (!last.TryGetValue(p, out var seen) || position > seen) last[p] = position;
                }
                catch (InvalidRecordException)
                {
                    // Not one of ours: ignore it for the tail.
                }
                if (result.Offset.Value >= marks.High.Value - 1) break;
            }
            consumer.Unassign();
        }
        return new TopicTail { PartitionCount = partitions, LastPositions = last, IsEmpty = isEmpty };
    }

    /// <summary>Partition count from metadata; asking for the topic lets a broker that auto-creates topics create it.</summary>
    public static int ReadPartitionCount(string bootstrapServers, string topic, TimeSpan timeout)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrapServers }).Build();
        var metadata = admin.GetMetadata(topic, timeout);
        var t = metadata.Topics.SingleOrDefault(x => x.Topic == topic);
        if (t is null || t.Error.IsError || t.Partitions.Count == 0)
            throw new InvalidOperationException($"topic {topic} is not available: {t?.Error.Reason ?? "no metadata"}");
        return t.Partitions.Count;
    }
}
