namespace KafkaPipeline.Shared;

/// <summary>
/// What both sinks configure the same way (sections MySqlSink and S3Sink): the topic they read, their group,
/// dead-letter topic, batching, backoff, the summary line and librdkafka pass-through settings.
/// </summary>
public abstract class SinkOptions : IValidatedOptions
{
    protected SinkOptions(string service, string store)
    {
        Service = service;
        Store = store;
        GroupId = service;
    }

    /// <summary>The service's name in logs, metrics and dead-letter headers ("mysql-sink", "s3-sink").</summary>
    public string Service { get; }

    /// <summary>The kind of store, the "sink" tag of the latency metric ("mysql", "s3").</summary>
    public string Store { get; }

    public string TopicPrefix { get; set; } = "P_";
    public string SourceTable { get; set; } = "users";

    /// <summary>Overrides {TopicPrefix}{SOURCETABLE} when set.</summary>
    public string? Topic { get; set; }

    public string GroupId { get; set; }

    /// <summary>Defaults to {topic}.dlq.</summary>
    public string? DeadLetterTopic { get; set; }

    /// <summary>
    /// Most records handed to the sink's store at once. A batch is written as soon as nothing more waits in Kafka (no
    /// lingering when records trickle in); under load the next batch fills while the current one is written. 2,000: in
    /// a 200,000-user backlog the MySQL sink peaked at 151 MB with it and at 172-178 MB with 5,000 (records that wait
    /// for the write in flight live long enough to reach the GC's older generations).
    /// </summary>
    public int BatchSize { get; set; } = 2000;

    /// <summary>Cap of the exponential backoff while the sink's store is unavailable.</summary>
    public TimeSpan RetryBackoffMax { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Interval of the Information summary line (and of the lag measurement).</summary>
    public TimeSpan SummaryInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Extra librdkafka consumer properties over the shared defaults (like Connect's consumer.override.*), e.g.
    /// {section}:ConsumerOverrides:session.timeout.ms=6000. Only librdkafka's tuning settings are allowed (LibrdkafkaOverrides.Allowed); others are refused naming the key.
    /// </summary>
    public Dictionary<string, string> ConsumerOverrides { get; set; } = [];

    public string EffectiveTopic => string.IsNullOrWhiteSpace(Topic) ? TopicNames.ForTable(TopicPrefix, SourceTable) : Topic;

    public string EffectiveDeadLetterTopic =>
        string.IsNullOrWhiteSpace(DeadLetterTopic) ? TopicNames.DeadLetter(EffectiveTopic) : DeadLetterTopic;

    public IEnumerable<string> Validate(string section)
    {
        var messages = new List<string>();
        if (string.IsNullOrWhiteSpace(Topic))
        {
            messages.AddRange(Check.Identifier($"{section}:SourceTable", SourceTable));
            if (TopicPrefix is null || TopicPrefix.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')))
                messages.Add($"{section}:TopicPrefix '{TopicPrefix}' may only contain letters, digits, '_', '-' or '.'.");
        }
        else if (!IsTopicName(Topic))
        {
            messages.Add($"{section}:Topic '{Topic}' is not a valid Kafka topic name (letters, digits, '_', '-', '.', at most 249).");
        }
        if (!string.IsNullOrWhiteSpace(DeadLetterTopic) && !IsTopicName(DeadLetterTopic))
            messages.Add($"{section}:DeadLetterTopic '{DeadLetterTopic}' is not a valid Kafka topic name (letters, digits, '_', '-', '.', at most 249).");
        if (!string.IsNullOrWhiteSpace(DeadLetterTopic) && DeadLetterTopic == EffectiveTopic)
            messages.Add($"{section}:DeadLetterTopic must differ from the topic it guards ('{EffectiveTopic}').");
        messages.AddRange(Check.Required($"{section}:GroupId", GroupId));
        messages.AddRange(Check.Range($"{section}:BatchSize", BatchSize, 1, 100_000));
        messages.AddRange(ValidateSink(section));
        messages.AddRange(Check.Positive($"{section}:RetryBackoffMax", RetryBackoffMax));
        messages.AddRange(Check.Positive($"{section}:SummaryInterval", SummaryInterval));
        messages.AddRange(LibrdkafkaOverrides.Validate($"{section}:ConsumerOverrides", ConsumerOverrides));
        return messages;
    }

    /// <summary>The sink's own settings.</summary>
    protected abstract IEnumerable<string> ValidateSink(string section);

    private static bool IsTopicName(string name) =>
        name.Length is > 0 and <= 249 && name is not ("." or "..") && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');
}
