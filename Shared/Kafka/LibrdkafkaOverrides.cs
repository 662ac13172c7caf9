namespace KafkaPipeline.Shared;

/// <summary>
/// librdkafka settings a service passes through from configuration (like Kafka Connect's consumer.override.*): an allow
/// list of tuning settings (timeouts, fetch sizes, buffers, the assignment strategy), documented in docs/security.md.
/// Everything else is refused at start naming the key: the settings the pipeline's guarantees rest on, aliases of them
/// (metadata.broker.list is bootstrap.servers), security settings (enable.ssl.certificate.verification=false would
/// trust any server), and every setting that makes librdkafka load code, run a command or read files, so that whoever
/// can set configuration cannot make the process do more than consume.
/// </summary>
public static class LibrdkafkaOverrides
{
    private static readonly HashSet<string> s_owned = new(StringComparer.OrdinalIgnoreCase)
    {
        "bootstrap.servers", "metadata.broker.list", "group.id", "enable.auto.commit", "enable.auto.offset.store",
        "isolation.level", "client.id", "auto.offset.reset",
    };

    /// <summary>The tuning settings that may be overridden (librdkafka's names, exactly).</summary>
    public static readonly IReadOnlySet<string> Allowed = new HashSet<string>(StringComparer.Ordinal)
    {
        // Group membership timing and assignment
        "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms", "partition.assignment.strategy",
        "group.protocol", "coordinator.query.interval.ms", "auto.commit.interval.ms",
        // Fetching and the local queue
        "fetch.wait.max.ms", "fetch.min.bytes", "fetch.max.bytes", "max.partition.fetch.bytes", "fetch.message.max.bytes",
        "fetch.error.backoff.ms", "fetch.queue.backoff.ms", "queued.min.messages", "queued.max.messages.kbytes",
        "receive.message.max.bytes", "check.crcs",
        // Producing (the source): message size, batching and the local queue; never acks, idempotence or partitioning
        "message.max.bytes", "linger.ms", "batch.num.messages", "batch.size", "queue.buffering.max.messages",
        "queue.buffering.max.kbytes", "compression.type", "compression.level",
        // Connections, retries and metadata
        "socket.timeout.ms", "socket.keepalive.enable", "socket.nagle.disable", "socket.send.buffer.bytes",
        "socket.receive.buffer.bytes", "socket.connection.setup.timeout.ms", "connections.max.idle.ms",
        "reconnect.backoff.ms", "reconnect.backoff.max.ms", "retry.backoff.ms", "retry.backoff.max.ms",
        "metadata.max.age.ms", "topic.metadata.refresh.interval.ms", "topic.metadata.refresh.fast.interval.ms",
        "api.version.request.timeout.ms", "client.rack", "statistics.interval.ms", "log.connection.close",
    };

    /// <summary>Messages naming each refused key, e.g. "S3Sink:ConsumerOverrides:plugin.library.paths is refused: ...".</summary>
    public static IEnumerable<string> Validate(string setting, IReadOnlyDictionary<string, string>? overrides)
    {
        foreach (var (key, value) in overrides ?? new Dictionary<string, string>())
        {
            if (s_owned.Contains(key.Trim()))
                yield return $"{setting}:{key} cannot be overridden (the sink's correctness or its other settings depend on it).";
            else if (!Allowed.Contains(key))
                yield return $"{setting}:{key} is refused: only librdkafka's tuning settings listed in docs/security.md may be overridden " +
                    "(others could change what the pipeline guarantees, weaken its security, or make librdkafka load code, run a command or use files).";
            else if (string.IsNullOrWhiteSpace(value))
                yield return $"{setting}:{key} needs a value.";
        }
    }
}
