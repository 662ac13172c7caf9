using KafkaPipeline.Shared;

namespace KafkaPipeline.SourceService;

public enum SourceMode
{
    /// <summary>New rows only, by id (the tutorial's mode).</summary>
    Incrementing,

    /// <summary>New and updated rows, by (updated_at, id): Kafka Connect's most robust polling mode.</summary>
    TimestampIncrementing,
}

/// <summary>Settings "Source:*".</summary>
public sealed class SourceOptions : IValidatedOptions
{
    public const string Section = "Source";

    public string Table { get; set; } = "users";
    public string TopicPrefix { get; set; } = "P_";
    public SourceMode Mode { get; set; } = SourceMode.TimestampIncrementing;

    /// <summary>Wait between polls when the last poll found nothing new (a full batch polls again at once).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Most rows read and published per poll.</summary>
    public int BatchSize { get; set; } = 5000;

    /// <summary>
    /// Rows younger than this (by the database clock) wait for the next poll, so a transaction that started earlier
    /// but commits later is not skipped (Kafka Connect's timestamp.delay.interval.ms). Must exceed the longest
    /// writing transaction on the table.
    /// </summary>
    public TimeSpan Delay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Table (in the source database) where the source keeps its position.</summary>
    public string OffsetsTable { get; set; } = "kafka_pipeline_source_offsets";

    public IEnumerable<string> Validate(string section)
    {
        foreach (var m in Check.Identifier($"{section}:Table", Table)) yield return m;
        foreach (var m in Check.Identifier($"{section}:OffsetsTable", OffsetsTable)) yield return m;
        if (!System.Text.RegularExpressions.Regex.IsMatch(TopicPrefix ?? "", "^[A-Za-z0-9._-]{0,100}$"))
            yield return $"{section}:TopicPrefix '{TopicPrefix}' may only hold letters, digits, '.', '_' and '-'.";
        if (!Enum.IsDefined(Mode)) yield return $"{section}:Mode must be Incrementing or TimestampIncrementing (got {Mode}).";
        foreach (var m in Check.Positive($"{section}:PollInterval", PollInterval)) yield return m;
        foreach (var m in Check.NotNegative($"{section}:Delay", Delay)) yield return m;
        foreach (var m in Check.Range($"{section}:BatchSize", BatchSize, 1, 100_000)) yield return m;
    }

    public string Topic => TopicNames.ForTable(TopicPrefix, Table);
}
