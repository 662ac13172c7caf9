namespace KafkaPipeline.Shared;

/// <summary>A topic a sink reads: the table whose changes it carries and where its dead letters go.</summary>
public sealed record SinkTopic(string Topic, TableName Table, string DeadLetterTopic);

/// <summary>
/// What both sinks configure the same way (sections MySqlSink and S3Sink): the topics they read (one per table of
/// Pipeline:Tables), their group, the dead-letter topics, batching, backoff, the summary line and librdkafka
/// pass-through settings.
/// </summary>
public abstract class SinkOptions : IValidatedOptions
{
    private PipelineOptions _pipeline = new();

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

    /// <summary>One table ("table" or "schema.table") instead of Pipeline:Tables: this sink reads only its topic.</summary>
    public string? SourceTable { get; set; }

    /// <summary>The topic of a single table (SourceTable, or the one table of Pipeline:Tables) instead of {TopicPrefix}{TABLE}.</summary>
    public string? Topic { get; set; }

    /// <summary>One consumer group for all the topics.</summary>
    public string GroupId { get; set; }

    /// <summary>Only with a single topic; by default each topic's dead letters go to {topic}.dlq.</summary>
    public string? DeadLetterTopic { get; set; }

    /// <summary>
    /// Most records handed to the sink's store at once. A batch is written as soon as nothing more waits in Kafka (no
    /// lingering when records trickle in); under load the next batch fills while the current one is written. Larger
    /// batches cost memory during a backlog: records that wait for the write in flight live long enough to reach the
    /// GC's older generations.
    /// </summary>
    public int BatchSize { get; set; } = 2000;

    /// <summary>Cap of the exponential backoff while the sink's store is unavailable.</summary>
    public TimeSpan RetryBackoffMax { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Interval of the Information summary line (and of the lag measurement).</summary>
    public TimeSpan SummaryInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A partition whose resume offset lies below the oldest record Kafka still keeps (retention deleted records the
    /// sink never stored) is stopped and reported on /health. True resumes such partitions at the oldest record kept
    /// instead, logging the range lost: set it for one start after deciding the loss is acceptable, then remove it.
    /// </summary>
    public bool AcceptRetentionGaps { get; set; }

    /// <summary>
    /// Extra librdkafka consumer properties over the shared defaults (like Connect's consumer.override.*), e.g.
    /// {section}:ConsumerOverrides:session.timeout.ms=6000. Only librdkafka's tuning settings are allowed (LibrdkafkaOverrides.Allowed); others are refused naming the key.
    /// </summary>
    public Dictionary<string, string> ConsumerOverrides { get; set; } = [];

    /// <summary>The section of the sink's settings ("MySqlSink"), for messages that name a setting.</summary>
    public string SettingsSection { get; private set; } = "";

    /// <summary>What AddSink adds to the bound settings: their section, and the tables of Pipeline:Tables (outside the sink's section).</summary>
    public void UsePipeline(PipelineOptions pipeline, string section)
    {
        _pipeline = pipeline;
        SettingsSection = section;
    }

    /// <summary>The tables this sink carries: SourceTable, else Pipeline:Tables. Only after <see cref="Validate"/> found none invalid.</summary>
    public IReadOnlyList<TableName> Tables =>
        string.IsNullOrWhiteSpace(SourceTable) ? _pipeline.TableList
        : TableName.TryParse(SourceTable, out var table) ? [table!]
        : throw new InvalidOperationException($"SourceTable '{SourceTable}' is not a table name");

    /// <summary>The topics the sink reads, in the order of the tables, each with its dead-letter topic.</summary>
    public IReadOnlyList<SinkTopic> Topics
    {
        get
        {
            var tables = Tables;
            if (!string.IsNullOrWhiteSpace(Topic)) return [new SinkTopic(Topic, tables[0], DeadLetterOf(Topic))];
            return [.. tables.Select(t => t.Topic(TopicPrefix)).Select((topic, i) => new SinkTopic(topic, tables[i], DeadLetterOf(topic)))];
        }
    }

    /// <summary>The topic when the sink reads exactly one (a part that handles only one topic); throws naming the setting otherwise.</summary>
    public string EffectiveTopic => Topics is [var only] ? only.Topic
        : throw new InvalidOperationException($"{Service} reads {Topics.Count} topics (Pipeline:Tables); this part of it handles one topic only");

    public string EffectiveDeadLetterTopic => DeadLetterOf(EffectiveTopic);

    private string DeadLetterOf(string topic) => string.IsNullOrWhiteSpace(DeadLetterTopic) ? TopicNames.DeadLetter(topic) : DeadLetterTopic;

    public IEnumerable<string> Validate(string section)
    {
        var messages = new List<string>();
        var tableMessages = new List<string>();
        if (string.IsNullOrWhiteSpace(SourceTable)) tableMessages.AddRange(_pipeline.Validate(PipelineOptions.Section));
        else if (!TableName.TryParse(SourceTable, out _))
            tableMessages.Add($"{section}:SourceTable '{SourceTable}' is not a table name: use table or schema.table, each a plain identifier (letters, digits, '_').");
        messages.AddRange(tableMessages);
        if (string.IsNullOrWhiteSpace(Topic))
        {
            if (TopicPrefix is null || TopicPrefix.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')))
                messages.Add($"{section}:TopicPrefix '{TopicPrefix}' may only contain letters, digits, '_', '-' or '.'.");
        }
        else if (!IsTopicName(Topic))
        {
            messages.Add($"{section}:Topic '{Topic}' is not a valid Kafka topic name (letters, digits, '_', '-', '.', at most 249).");
        }
        if (!string.IsNullOrWhiteSpace(DeadLetterTopic) && !IsTopicName(DeadLetterTopic))
            messages.Add($"{section}:DeadLetterTopic '{DeadLetterTopic}' is not a valid Kafka topic name (letters, digits, '_', '-', '.', at most 249).");
        if (tableMessages.Count == 0 && messages.Count == 0)
        {
            var tables = Tables;
            if (!string.IsNullOrWhiteSpace(Topic) && tables.Count > 1)
                messages.Add($"{section}:Topic names one topic, but {PipelineOptions.Section}:Tables lists {tables.Count} tables: leave {section}:Topic unset " +
                             $"(each table has its topic {TopicPrefix}{{TABLE}}) or set {section}:SourceTable to the one table it carries.");
            else if (!string.IsNullOrWhiteSpace(DeadLetterTopic) && tables.Count > 1)
                messages.Add($"{section}:DeadLetterTopic names one topic, but the sink reads {tables.Count} (one per table of {PipelineOptions.Section}:Tables): " +
                             "leave it unset, each topic's dead letters go to {topic}.dlq.");
            else
            {
                var topics = Topics;
                foreach (var t in topics.Where(t => !IsTopicName(t.Topic)))
                    messages.Add($"{section}:TopicPrefix: the topic of table {t.Table}, '{t.Topic}', is not a valid Kafka topic name (at most 249 characters).");
                foreach (var t in topics.Where(t => topics.Any(o => o.Topic == t.DeadLetterTopic)))
                    messages.Add($"{section}:DeadLetterTopic must differ from the topics it guards ('{t.DeadLetterTopic}' is one).");
                messages.AddRange(ValidateTopics(section, topics));
            }
        }
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

    /// <summary>The sink's settings that depend on its topics and tables (called only when those are valid).</summary>
    protected virtual IEnumerable<string> ValidateTopics(string section, IReadOnlyList<SinkTopic> topics) => [];

    private static bool IsTopicName(string name) =>
        name.Length is > 0 and <= 249 && name is not ("." or "..") && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');
}
