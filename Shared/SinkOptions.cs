namespace KafkaPipeline.Shared;

/// <summary>What both sinks configure the same way: the topic they read, their group, dead-letter topic and pacing.</summary>
public abstract class SinkOptions : IValidatedOptions
{
    protected SinkOptions(string groupId) => GroupId = groupId;

    public string TopicPrefix { get; set; } = "P_";
    public string SourceTable { get; set; } = "users";

    /// <summary>Overrides {TopicPrefix}{SOURCETABLE} when set.</summary>
    public string? Topic { get; set; }

    public string GroupId { get; set; }

    /// <summary>Defaults to {topic}.dlq.</summary>
    public string? DeadLetterTopic { get; set; }

    /// <summary>Cap of the exponential backoff while the sink's store is unavailable.</summary>
    public TimeSpan RetryBackoffMax { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Interval of the Information summary line (and of the lag measurement).</summary>
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
        messages.AddRange(ValidateSink(section));
        messages.AddRange(Check.Positive($"{section}:RetryBackoffMax", RetryBackoffMax));
        messages.AddRange(Check.Positive($"{section}:SummaryInterval", SummaryInterval));
        return messages;
    }

    /// <summary>The sink's own settings.</summary>
    protected abstract IEnumerable<string> ValidateSink(string section);

    private static bool IsTopicName(string name) =>
        name.Length is > 0 and <= 249 && name is not ("." or "..") && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');
}
