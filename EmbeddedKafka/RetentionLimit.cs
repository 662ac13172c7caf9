using System.Runtime.InteropServices;

namespace KafkaPipeline.EmbeddedKafka;

/// <summary>
/// librdkafka's mock partition keeps at most 5 MiB (and 100,000 record batches) of log and silently drops the
/// oldest batches beyond that (rdkafka_mock.c, rd_kafka_mock_msgset_new; the limits are hard-coded, no setter
/// or config property exists, still so in 2.16). A backfill of 200,000 records of ~400 bytes in 4 partitions is
/// ~20 MB a partition, so a consumer starting at offset 0 would lose most of it.
/// This raises the two limits of a topic's partitions by writing the fields directly, for the librdkafka version
/// whose struct layout was read from the source and checked here (2.16.x, 64-bit). Every pointer and value is
/// cross-checked before the single write; on any mismatch nothing is written and the caller fails loudly.
/// </summary>
internal static class RetentionLimit
{
    internal const long DefaultMaxBytesPerPartition = 5L * 1024 * 1024;
    private const long DefaultMaxBatchesPerPartition = 100_000;

    // struct rd_kafka_mock_cluster_s (rdkafka_mock_int.h, 2.16)
    private const int ClusterRk = 32;          // rd_kafka_t *rk (after char id[32])
    private const int ClusterBrokerCount = 64; // int broker_cnt
    private const int ClusterTopicsFirst = 72; // TAILQ_HEAD topics .tqh_first
    // struct rd_kafka_mock_topic_s: since 2.x a topic id (rd_kafka_Uuid_t, 40 bytes) follows the name.
    private const int TopicNext = 0;           // TAILQ_ENTRY link .tqe_next
    private const int TopicName = 16;          // char *name
    private const int TopicPartitions = 64;    // rd_kafka_mock_partition_t *partitions
    private const int TopicPartitionCount = 72;
    private const int TopicCluster = 80;       // rd_kafka_mock_cluster_t *cluster
    // struct rd_kafka_mock_partition_s
    private const int PartitionSize = 264;     // sizeof, the array stride
    private const int PartitionId = 16;
    private const int PartitionMaxSize = 96;   // size_t max_size
    private const int PartitionMaxCount = 104; // size_t max_cnt
    private const int PartitionTopic = 224;    // rd_kafka_mock_topic_s *topic

    /// <summary>True for the librdkafka builds whose mock layout is known (2.16.x, 64-bit).</summary>
    internal static bool IsKnownLayout(int version) =>
        IntPtr.Size == 8 && (version & unchecked((int)0xffff0000)) == 0x02100000;

    /// <summary>Sets max_size and max_cnt of every partition of <paramref name="topic"/> to "unlimited".</summary>
    /// <returns>Null when done, else why it could not be done (nothing was written).</returns>
    internal static string? TryLift(IntPtr rk, IntPtr mcluster, int brokerCount, string topic, int version)
    {
        if (!IsKnownLayout(version))
            return $"the mock cluster's memory layout is known for librdkafka 2.16.x only, this is {FormatVersion(version)}";
        if (Marshal.ReadIntPtr(mcluster, ClusterRk) != rk || Marshal.ReadInt32(mcluster, ClusterBrokerCount) != brokerCount)
            return "the cluster struct does not match (handle or broker count)";

        // Topics are only appended, by the mock thread, after they are fully initialised; reading the list is safe.
        for (var t = Marshal.ReadIntPtr(mcluster, ClusterTopicsFirst); t != IntPtr.Zero; t = Marshal.ReadIntPtr(t, TopicNext))
        {
            if (Marshal.ReadIntPtr(t, TopicCluster) != mcluster)
                return "a topic struct does not point back to its cluster";
            if (Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(t, TopicName)) != topic)
                continue;

            var partitions = Marshal.ReadIntPtr(t, TopicPartitions);
            var count = Marshal.ReadInt32(t, TopicPartitionCount);
            if (partitions == IntPtr.Zero || count is < 1 or > 100_000)
                return $"topic {topic}: implausible partition array ({count} partitions)";
            for (var i = 0; i < count; i++)
            {
                var p = partitions + i * PartitionSize;
                if (Marshal.ReadInt32(p, PartitionId) != i || Marshal.ReadIntPtr(p, PartitionTopic) != t)
                    return $"topic {topic}: partition {i} does not match (id or topic pointer)";
                var maxSize = Marshal.ReadInt64(p, PartitionMaxSize);
                var maxCount = Marshal.ReadInt64(p, PartitionMaxCount);
                // Either the mock's defaults or already lifted by us.
                if (!(maxSize == DefaultMaxBytesPerPartition && maxCount == DefaultMaxBatchesPerPartition)
                    && !(maxSize == long.MaxValue && maxCount == long.MaxValue))
                    return $"topic {topic}: partition {i} limits are neither the defaults nor lifted ({maxSize} bytes, {maxCount} batches)";
            }
            // Aligned 8-byte stores: the mock thread sees the old or the new value, never a torn one.
            for (var i = 0; i < count; i++)
            {
                var p = partitions + i * PartitionSize;
                Marshal.WriteInt64(p, PartitionMaxSize, long.MaxValue);
                Marshal.WriteInt64(p, PartitionMaxCount, long.MaxValue);
            }
            return null;
        }
        return $"topic {topic} is not in the mock cluster";
    }

    internal static string FormatVersion(int v) => $"{(v >> 24) & 0xff}.{(v >> 16) & 0xff}.{(v >> 8) & 0xff}";
}
