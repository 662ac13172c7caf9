using Confluent.Kafka;

namespace KafkaPipeline.Shared;

/// <summary>The one place the services' Kafka client settings are chosen (benchmarks use the same).</summary>
public static class KafkaSettings
{
    /// <summary>Idempotent producer, acks=all: no loss and no duplicates from producer retries.</summary>
    public static ProducerConfig Producer(string bootstrapServers, string clientId) => new()
    {
        BootstrapServers = bootstrapServers,
        ClientId = clientId,
        EnableIdempotence = true,
        Acks = Acks.All,
        // A few ms of batching costs little latency and multiplies throughput during a backfill.
        LingerMs = 5,
        BatchNumMessages = 10_000,
        // Every event carries its table's schema (Kafka Connect's JSON with schema): the same bytes in every message
        // of a batch, which lz4 takes out for little CPU (bytes per user on the topic: BENCHMARKS.md).
        CompressionType = CompressionType.Lz4,
        MessageTimeoutMs = 0, // retry until delivered (the source waits for every ack before moving on)
        SocketKeepaliveEnable = true,
    };

    /// <summary>Manual offset commits only: a sink commits after its write is durable.</summary>
    public static ConsumerConfig Consumer(string bootstrapServers, string groupId, string clientId) => new()
    {
        BootstrapServers = bootstrapServers,
        GroupId = groupId,
        ClientId = clientId,
        EnableAutoCommit = false,
        EnableAutoOffsetStore = false,
        AutoOffsetReset = AutoOffsetReset.Earliest,
        IsolationLevel = IsolationLevel.ReadCommitted,
        // How long a fetch may wait for data. A real broker answers as soon as one message is there, so this only sets
        // how often an idle consumer asks. The embedded Kafka (librdkafka's mock cluster) holds an empty fetch for the
        // whole wait and does not wake up on new data (rdkafka_mock_handlers.c): there the wait is added to every
        // record's latency.
        FetchWaitMaxMs = 10,
        // A request unanswered this long is retried on a new connection (default 60 s stalled a partition for a
        // minute after a broker came back).
        SocketTimeoutMs = 10_000,
        // Pre-fetch per partition: librdkafka's 64 MB default held most of a sink's memory during a backfill. With the
        // short backoff below, 2 MB still feeds a sink far faster than it writes.
        QueuedMaxMessagesKbytes = 2_048,
        // When that pre-fetch is full, librdkafka waits this long before it fetches the partition again (default 1 s,
        // since librdkafka 2.4): a consumer that drains its queue in less stood idle for the rest of the second.
        FetchQueueBackoffMs = 10,
        // A sink killed outright is noticed after this long and its partitions move to the restarted instance
        // (librdkafka's default of 45 s would stall a restart for most of a minute).
        SessionTimeoutMs = 10_000,
        SocketKeepaliveEnable = true,
    };
}
