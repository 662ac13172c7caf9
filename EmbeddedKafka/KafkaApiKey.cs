namespace KafkaPipeline.EmbeddedKafka;

/// <summary>Kafka protocol API keys that are useful for injecting request errors.</summary>
public enum KafkaApiKey : short
{
    Produce = 0,
    Fetch = 1,
    ListOffsets = 2,
    Metadata = 3,
    OffsetCommit = 8,
    OffsetFetch = 9,
    FindCoordinator = 10,
    JoinGroup = 11,
    Heartbeat = 12,
    LeaveGroup = 13,
    SyncGroup = 14,
    InitProducerId = 22,
}

/// <summary>A few Kafka protocol error codes (rd_kafka_resp_err_t) for <see cref="EmbeddedKafkaCluster.PushRequestErrors(KafkaApiKey, int[])"/>.</summary>
public static class KafkaErrorCode
{
    public const int OffsetOutOfRange = 1;
    public const int UnknownTopicOrPartition = 3;
    public const int LeaderNotAvailable = 5;
    public const int NotLeaderForPartition = 6;
    public const int RequestTimedOut = 7;
    public const int CoordinatorLoadInProgress = 14;
    public const int CoordinatorNotAvailable = 15;
    public const int NotCoordinator = 16;
    public const int NotEnoughReplicas = 19;
    public const int NotEnoughReplicasAfterAppend = 20;
    public const int InvalidRequiredAcks = 21;
    public const int RebalanceInProgress = 27;
    public const int TopicAuthorizationFailed = 29;
}
