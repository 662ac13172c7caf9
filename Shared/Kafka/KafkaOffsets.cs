using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace KafkaPipeline.Shared;

/// <summary>
/// Topics' watermarks and groups' committed offsets, read with admin requests the embedded Kafka (librdkafka's mock
/// cluster) answers as a broker does: ListOffsets and OffsetFetch. A few requests whatever the number of partitions.
/// </summary>
public static class KafkaOffsets
{
    /// <summary>Low and high watermark of each partition (two ListOffsets requests, sent at once).</summary>
    public static async Task<Dictionary<TopicPartition, (long Low, long High)>> WatermarksAsync(IAdminClient admin,
        IEnumerable<TopicPartition> partitions, TimeSpan timeout)
    {
        var list = partitions.ToList();
        var result = new Dictionary<TopicPartition, (long, long)>();
        if (list.Count == 0) return result;
        var options = new ListOffsetsOptions { RequestTimeout = timeout };
        var lowTask = admin.ListOffsetsAsync(list.Select(tp => new TopicPartitionOffsetSpec { TopicPartition = tp, OffsetSpec = OffsetSpec.Earliest() }), options);
        var highTask = admin.ListOffsetsAsync(list.Select(tp => new TopicPartitionOffsetSpec { TopicPartition = tp, OffsetSpec = OffsetSpec.Latest() }), options);
        var (low, high) = (await lowTask, await highTask);
        var highs = high.ResultInfos.ToDictionary(r => r.TopicPartitionOffsetError.TopicPartition, r => r.TopicPartitionOffsetError.Offset.Value);
        foreach (var r in low.ResultInfos)
        {
            var tp = r.TopicPartitionOffsetError.TopicPartition;
            result[tp] = (r.TopicPartitionOffsetError.Offset.Value, highs.GetValueOrDefault(tp, -1));
        }
        return result;
    }

    /// <summary>
    /// What <paramref name="group"/> has committed on those partitions (one OffsetFetch: librdkafka takes exactly one group
    /// per request); partitions it has committed nothing on are left out.
    /// </summary>
    public static async Task<List<TopicPartitionOffset>> CommittedAsync(IAdminClient admin, string group,
        IEnumerable<TopicPartition> partitions, TimeSpan timeout)
    {
        var result = await admin.ListConsumerGroupOffsetsAsync(
            [new ConsumerGroupTopicPartitions(group, [.. partitions])], new ListConsumerGroupOffsetsOptions { RequestTimeout = timeout });
        return [.. result.SelectMany(r => r.Partitions).Where(p => p.Offset.Value >= 0).Select(p => p.TopicPartitionOffset)];
    }
}
