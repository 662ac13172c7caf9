using System.Text.RegularExpressions;
using KafkaPipeline.Shared;

namespace KafkaPipeline.SourceService;

public enum SourceMode
{
    /// <summary>Change data capture from PostgreSQL's log (logical replication, pgoutput): every commit, deletes included.</summary>
    Cdc,

    /// <summary>Polls new rows only, by id (the tutorial's mode). Misses updates, deletes and rows committed late.</summary>
    Incrementing,

    /// <summary>Polls new and updated rows by (updated_at, id), Kafka Connect's most robust polling mode. Misses deletes
    /// and rows whose transaction commits later than <see cref="SourceOptions.Delay"/> after it began.</summary>
    TimestampIncrementing,
}

/// <summary>Settings "Source:*".</summary>
public sealed partial class SourceOptions : IValidatedOptions
{
    public const string Section = "Source";

    /// <summary>The polling modes' table (they read one table). Cdc captures Pipeline:Tables (default: this table).</summary>
    public string Table { get; set; } = "users";
    public string TopicPrefix { get; set; } = "P_";
    public SourceMode Mode { get; set; } = SourceMode.Cdc;

    // --- Cdc ---

    /// <summary>
    /// The tables Cdc captures, comma-separated ("users,orders", "sales.orders"): Pipeline:Tables, which the AppHost hands
    /// to every service (set from it at start); without it, Source:Table alone.
    /// </summary>
    public string Tables { get; set; } = "";

    /// <summary>Publication of the captured tables (created when missing). Empty: kafka_pipeline_{first table}.</summary>
    public string Publication { get; set; } = "";

    /// <summary>Logical replication slot (created when missing; one per pipeline). Empty: kafka_pipeline_{first table}.</summary>
    public string Slot { get; set; } = "";

    /// <summary>Rows a table added to the capture later is read in per chunk of its incremental snapshot (by key order).</summary>
    public int SnapshotChunkSize { get; set; } = 5000;

    /// <summary>
    /// How often the active source writes a heartbeat into the log (pg_logical_emit_message), so the slot advances while
    /// the table is idle and other tables are busy; also how often the slot's retained WAL is measured.
    /// </summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the source tells PostgreSQL how far Kafka has acknowledged (standby status update).</summary>
    public TimeSpan StatusInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often a standby source checks whether the active one is gone.</summary>
    public TimeSpan StandbyRetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long the active source may go without renewing its lease (it renews every Source:StatusInterval) before a
    /// standby ends its sessions and takes over: a frozen or cut-off source is replaced within about this long.
    /// </summary>
    public TimeSpan LeaseTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// The column holding the writer's W3C trace context (the Generator's trace_parent): it travels as the event's
    /// traceparent header, not as a field. Empty: none.
    /// </summary>
    public string TraceParentColumn { get; set; } = "trace_parent";

    /// <summary>
    /// Extra librdkafka producer properties over the shared defaults, e.g. Source:ProducerOverrides:message.max.bytes=4000000
    /// for rows larger than Kafka's default 1 MB message.
    /// </summary>
    public Dictionary<string, string> ProducerOverrides { get; set; } = [];

    /// <summary>Table (in the source database) recording which slot's initial snapshot is complete in Kafka.</summary>
    public string CdcStateTable { get; set; } = "kafka_pipeline_cdc_state";

    // --- polling modes ---

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

    public string Topic => TopicNames.ForTable(TopicPrefix, Table);

    /// <summary>Where the active source renews its lease: {CdcStateTable}_lease.</summary>
    public string LeaseTable => CdcStateTable + "_lease";

    public string PublicationName => Publication is { Length: > 0 } p ? p : DefaultName;

    public string SlotName => Slot is { Length: > 0 } s ? s : DefaultName.ToLowerInvariant();

    /// <summary>The captured tables (Tables, or Table alone); the first names the default slot and publication.</summary>
    public IReadOnlyList<TableName> TableList =>
        new PipelineOptions { Tables = Tables is { Length: > 0 } t ? t : Table }.TableList;

    private string DefaultName => "kafka_pipeline_" + (Tables is { Length: > 0 } ? TableList[0].Name : Table);

    // PostgreSQL's rule for slot names: lower-case letters, digits and underscores, at most 63.
    [GeneratedRegex(@"\A[a-z0-9_]{1,63}\z")]
    private static partial Regex SlotPattern();

    [GeneratedRegex(@"\A[A-Za-z0-9._-]{0,100}\z")]
    private static partial Regex TopicPrefixPattern();

    public IEnumerable<string> Validate(string section)
    {
        foreach (var m in UsersSchema.Validate($"{section}:Table", Table)) yield return m;
        if (Tables is { Length: > 0 })
            foreach (var m in new PipelineOptions { Tables = Tables }.Validate("Pipeline")) yield return m;
        foreach (var m in Check.Range($"{section}:SnapshotChunkSize", SnapshotChunkSize, 1, 1_000_000)) yield return m;
        foreach (var m in Check.Identifier($"{section}:OffsetsTable", OffsetsTable)) yield return m;
        foreach (var m in Check.Identifier($"{section}:CdcStateTable", CdcStateTable)) yield return m;
        if (SqlIdentifier.IsValid(CdcStateTable) && !SqlIdentifier.IsValid(CdcStateTable + "_tables"))
            yield return $"{section}:CdcStateTable '{CdcStateTable}' is too long: '{CdcStateTable}_tables' must fit in {SqlIdentifier.MaxLength} bytes.";
        if (!TopicPrefixPattern().IsMatch(TopicPrefix ?? ""))
            yield return $"{section}:TopicPrefix '{TopicPrefix}' may only hold letters, digits, '.', '_' and '-'.";
        if (!Enum.IsDefined(Mode)) yield return $"{section}:Mode must be Cdc, Incrementing or TimestampIncrementing (got {Mode}).";
        if (SqlIdentifier.IsValid(Table) && (Tables is not { Length: > 0 } || new PipelineOptions { Tables = Tables }.Validate("Pipeline").FirstOrDefault() is null))
        {
            foreach (var m in Check.Identifier($"{section}:Publication", PublicationName)) yield return m;
            if (!SlotPattern().IsMatch(SlotName))
                yield return $"{section}:Slot '{SlotName}' is not a valid replication slot name: use 1-63 lower-case letters, digits or '_'.";
        }
        foreach (var m in Check.Positive($"{section}:HeartbeatInterval", HeartbeatInterval)) yield return m;
        foreach (var m in Check.Positive($"{section}:StatusInterval", StatusInterval)) yield return m;
        foreach (var m in Check.Positive($"{section}:StandbyRetryInterval", StandbyRetryInterval)) yield return m;
        if (LeaseTimeout < StatusInterval * 3 || LeaseTimeout < TimeSpan.FromSeconds(3))
            yield return $"{section}:LeaseTimeout must be at least 3 s and three Source:StatusInterval (got {LeaseTimeout}): the active source renews its lease every StatusInterval.";
        foreach (var m in Check.Positive($"{section}:PollInterval", PollInterval)) yield return m;
        foreach (var m in Check.NotNegative($"{section}:Delay", Delay)) yield return m;
        foreach (var m in Check.Range($"{section}:BatchSize", BatchSize, 1, 100_000)) yield return m;
        foreach (var m in LibrdkafkaOverrides.Validate($"{section}:ProducerOverrides", ProducerOverrides)) yield return m;
    }
}
