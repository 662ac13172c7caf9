using KafkaPipeline.Shared;

namespace KafkaPipeline.S3SinkService;

/// <summary>
/// Settings "S3Sink:*". The bucket and endpoint come from the shared "S3" section (S3Options); the Kafka bootstrap
/// servers from ConnectionStrings:kafka.
/// </summary>
public sealed class S3SinkOptions : IValidatedOptions
{
    public const string Section = "S3Sink";

    public string TopicPrefix { get; set; } = "P_";
    public string SourceTable { get; set; } = "users";

    /// <summary>Overrides {TopicPrefix}{SOURCETABLE} when set.</summary>
    public string? Topic { get; set; }

    public string GroupId { get; set; } = "s3-sink";

    /// <summary>
    /// Most records in one object (Confluent's flush.size). 10,000 keeps a 20k users/s backfill at a few objects a
    /// second per partition; at 1 user/s RotateInterval closes objects long before this.
    /// </summary>
    public int FlushSize { get; set; } = 10_000;

    /// <summary>
    /// Longest wall-clock time an object stays open. Checked on a timer, not only when a record arrives, so at 1 user/s
    /// each user is in S3 about 1-1.5 s after it reached Kafka.
    /// </summary>
    public TimeSpan RotateInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>First path segment of every key (Confluent's topics.dir).</summary>
    public string TopicsDir { get; set; } = "topics";

    /// <summary>Defaults to {topic}.dlq.</summary>
    public string? DeadLetterTopic { get; set; }

    /// <summary>Cap of the exponential backoff while S3 rejects PUTs.</summary>
    public TimeSpan RetryBackoffMax { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Extra librdkafka consumer properties over the shared defaults (like Connect's consumer.override.*), e.g.
    /// S3Sink:ConsumerOverrides:session.timeout.ms=10000 for a faster take-over after a crashed instance.
    /// </summary>
    public Dictionary<string, string> ConsumerOverrides { get; set; } = [];

    /// <summary>Interval of the Information summary line.</summary>
    public TimeSpan SummaryInterval { get; set; } = TimeSpan.FromSeconds(10);

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
        messages.AddRange(Check.Range($"{section}:FlushSize", FlushSize, 1, 1_000_000));
        messages.AddRange(Check.Positive($"{section}:RotateInterval", RotateInterval));
        if (RotateInterval > TimeSpan.FromHours(1))
            messages.Add($"{section}:RotateInterval must be at most 01:00:00 (got {RotateInterval}).");
        if (!IsKeySegment(TopicsDir))
            messages.Add($"{section}:TopicsDir '{TopicsDir}' must be a non-empty key prefix of letters, digits, '_', '-', '.' or inner '/'.");
        foreach (var (key, value) in ConsumerOverrides)
        {
            if (key is "group.id" or "enable.auto.commit" or "enable.auto.offset.store" or "bootstrap.servers")
                messages.Add($"{section}:ConsumerOverrides:{key} cannot be overridden (the sink's correctness or its other settings depend on it).");
            else if (string.IsNullOrWhiteSpace(value))
                messages.Add($"{section}:ConsumerOverrides:{key} needs a value.");
        }
        messages.AddRange(Check.Positive($"{section}:RetryBackoffMax", RetryBackoffMax));
        messages.AddRange(Check.Positive($"{section}:SummaryInterval", SummaryInterval));
        return messages;
    }

    private static bool IsTopicName(string name) =>
        name.Length is > 0 and <= 249 && name is not ("." or "..") && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');

    private static bool IsKeySegment(string? dir) =>
        !string.IsNullOrEmpty(dir) && dir[0] != '/' && dir[^1] != '/' && !dir.Contains("//", StringComparison.Ordinal)
        && dir.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or '/');
}
