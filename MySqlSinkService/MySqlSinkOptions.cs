using KafkaPipeline.Shared;

namespace KafkaPipeline.MySqlSinkService;

public enum InsertMode
{
    /// <summary>INSERT ... ON DUPLICATE KEY UPDATE: idempotent, replays and updates leave the newest version.</summary>
    Upsert,

    /// <summary>
    /// Plain INSERT: each record must carry a new id. A record whose id is already in the table (an update, or a
    /// replay after a crash) fails with a duplicate-key error and goes to the dead-letter topic; the rest flows.
    /// </summary>
    Insert,
}

/// <summary>Settings "MySqlSink:*". Connection strings: ConnectionStrings:emaildb (MySQL) and ConnectionStrings:kafka.</summary>
public sealed class MySqlSinkOptions : IValidatedOptions
{
    public const string Section = "MySqlSink";

    /// <summary>Most parameters MySQL accepts in one statement (65535) divided by the 13 columns, rounded down.</summary>
    public const int MaxStatementRows = 5000;

    public string TopicPrefix { get; set; } = "P_";
    public string SourceTable { get; set; } = "users";

    /// <summary>Overrides {TopicPrefix}{SOURCETABLE} when set.</summary>
    public string? Topic { get; set; }

    public string GroupId { get; set; } = "mysql-sink";

    /// <summary>MySQL table written to (created when missing).</summary>
    public string Table { get; set; } = "users";

    public InsertMode InsertMode { get; set; } = InsertMode.Upsert;

    /// <summary>Most records written in one MySQL transaction.</summary>
    public int BatchSize { get; set; } = 5000;

    /// <summary>Longest time a partial batch waits for more records before it is written.</summary>
    public TimeSpan BatchLinger { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Rows per multi-row INSERT statement inside the batch's transaction.</summary>
    public int StatementRows { get; set; } = 500;

    /// <summary>Defaults to {topic}.dlq.</summary>
    public string? DeadLetterTopic { get; set; }

    /// <summary>Cap of the exponential backoff while MySQL is unavailable.</summary>
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
        messages.AddRange(Check.Identifier($"{section}:Table", Table));
        if (!Enum.IsDefined(InsertMode))
            messages.Add($"{section}:InsertMode must be Upsert or Insert (got {InsertMode}).");
        messages.AddRange(Check.Range($"{section}:BatchSize", BatchSize, 1, 100_000));
        messages.AddRange(Check.Range($"{section}:StatementRows", StatementRows, 1, MaxStatementRows));
        messages.AddRange(Check.NotNegative($"{section}:BatchLinger", BatchLinger));
        if (BatchLinger > TimeSpan.FromMinutes(1))
            messages.Add($"{section}:BatchLinger must be at most 00:01:00 (got {BatchLinger}).");
        messages.AddRange(Check.Positive($"{section}:RetryBackoffMax", RetryBackoffMax));
        messages.AddRange(Check.Positive($"{section}:SummaryInterval", SummaryInterval));
        return messages;
    }

    private static bool IsTopicName(string name) =>
        name.Length is > 0 and <= 249 && name is not ("." or "..") && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');
}
