using System.Runtime.InteropServices;

namespace KafkaPipeline.EmbeddedKafka;

/// <summary>
/// librdkafka's mock partition keeps at most 5 MiB (and 100,000 record batches) of log and silently drops the
/// oldest batches beyond that (rdkafka_mock.c, rd_kafka_mock_msgset_new; the limits are hard-coded, no setter
/// or config property exists). A backfill of 200,000 records of ~400 bytes in 4 partitions is ~20 MB a partition,
/// so a consumer starting at offset 0 would lose most of it. This raises the two limits of a topic's partitions
/// by writing the fields directly, for the librdkafka versions whose struct layout was read from the source
/// (1.9.0 .. 2.0.x, x64 and arm64 LP64). Every pointer and value is cross-checked before the single write;
/// on any mismatch nothing is written and the caller reports the limit as still in place.
/// </summary>
internal static class RetentionLimit
{
    internal const long DefaultMaxBytesPerPartition = 5L * 1024 * 1024;
    private const long DefaultMaxBatchesPerPartition = 100_000;

    // struct rd_kafka_mock_cluster_s (rdkafka_mock_int.h, v1.9.0 .. v2.0.2)
    private const int ClusterRk = 32;          // rd_kafka_t *rk (after char id[32])
    private const int ClusterBrokerCount = 64; // int broker_cnt
    private const int ClusterTopicsFirst = 72; // TAILQ_HEAD topics .tqh_first
    // struct rd_kafka_mock_topic_s
    private const int TopicNext = 0;           // TAILQ_ENTRY link .tqe_next
    private const int TopicName = 16;          // char *name
    private const int TopicPartitions = 24;    // rd_kafka_mock_partition_t *partitions
    private const int TopicPartitionCount = 32;
    private const int TopicCluster = 40;       // rd_kafka_mock_cluster_t *cluster
    // struct rd_kafka_mock_partition_s
    private const int PartitionSize = 208;     // sizeof, the array stride
    private const int PartitionId = 16;
    private const int PartitionMaxSize = 96;   // size_t max_size
    private const int PartitionMaxCount = 104; // size_t max_cnt
    private const int PartitionTopic = 200;    // rd_kafka_mock_topic_s *topic

    /// <summary>True for the librdkafka builds whose mock layout is known (checked in the source, 1.9.0 to 2.0.2).</summary>
    internal static bool IsKnownLayout(int version) =>
        IntPtr.Size == 8 && version >= 0x01090000 && version < 0x02010000;

    /// <summary>Sets max_size and max_cnt of every partition of <paramref name="topic"/> to "unlimited".</summary>
    internal static bool TryLift(IntPtr rk, IntPtr mcluster, int brokerCount, string topic)
    {
        if (!IsKnownLayout(Native.Version()))
            return false;
        if (Marshal.ReadIntPtr(mcluster, ClusterRk) != rk || Marshal.ReadInt32(mcluster, ClusterBrokerCount) != brokerCount)
            return false;

        // Topics are only appended, by the mock thread, after they are fully initialised; reading the list is safe.
        for (var t = Marshal.ReadIntPtr(mcluster, ClusterTopicsFirst); t != IntPtr.Zero; t = Marshal.ReadIntPtr(t, TopicNext))
        {
            if (Marshal.ReadIntPtr(t, TopicCluster) != mcluster)
                return false;
            if (Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(t, TopicName)) != topic)
                continue;

            var partitions = Marshal.ReadIntPtr(t, TopicPartitions);
            var count = Marshal.ReadInt32(t, TopicPartitionCount);
            if (partitions == IntPtr.Zero || count is < 1 or > 100_000)
                return false;
            for (var i = 0; i < count; i++)
            {
                var p = partitions + i * PartitionSize;
                if (Marshal.ReadInt32(p, PartitionId) != i || Marshal.ReadIntPtr(p, PartitionTopic) != t)
                    return false;
                var maxSize = Marshal.ReadInt64(p, PartitionMaxSize);
                var maxCount = Marshal.ReadInt64(p, PartitionMaxCount);
                // Either the mock's defaults or already lifted by us.
                if (!(maxSize == DefaultMaxBytesPerPartition && maxCount == DefaultMaxBatchesPerPartition)
                    && !(maxSize == long.MaxValue && maxCount == long.MaxValue))
                    return false;
            }
            // Aligned 8-byte stores: the mock thread sees the old or the new value, never a torn one.
            for (var i = 0; i < count; i++)
            {
                var p = partitions + i * PartitionSize;
                Marshal.WriteInt64(p, PartitionMaxSize, long.MaxValue);
                Marshal.WriteInt64(p, PartitionMaxCount, long.MaxValue);
            }
            return true;
        }
        return false;
    }
}
