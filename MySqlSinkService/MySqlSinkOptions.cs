using KafkaPipeline.Shared;

namespace KafkaPipeline.MySqlSinkService;

public enum InsertMode
{
    /// <summary>Insert or update by key, keeping the stored row when it is newer: replays and stale writers change nothing.</summary>
    Upsert,

    /// <summary>
    /// Plain INSERT: each record must carry a new key. A record whose key is already in the table (an update, or a
    /// replay after a crash) fails with a duplicate-key error and goes to the dead-letter topic; the rest flows.
    /// </summary>
    Insert,
}

/// <summary>Settings "MySqlSink:*". Connection strings: ConnectionStrings:emaildb (MySQL) and ConnectionStrings:kafka.</summary>
public sealed class MySqlSinkOptions() : SinkOptions("mysql-sink", "mysql")
{
    public const string Section = "MySqlSink";

    /// <summary>Most rows of one multi-row INSERT: MySQL's 65535 parameters over the fewest staging columns (8).</summary>
    public const int MaxStatementRows = 8000;

    /// <summary>Longest MySQL table name, so that {table}_deleted fits MySQL's 64 characters.</summary>
    public const int MaxTableName = 55;

    /// <summary>
    /// The MySQL table of a sink that reads one topic, instead of the source table's name. By default each topic goes
    /// to a table named after its source table: "users" -> users, "sales.orders" -> sales_orders (created from the
    /// first record's schema).
    /// </summary>
    public string? Table { get; set; }

    public InsertMode InsertMode { get; set; } = InsertMode.Upsert;

    /// <summary>
    /// Source columns not mirrored in MySQL, comma-separated, case-insensitive: a plain name ("ssn") leaves that column
    /// out of every table, a qualified one ("orders.card_number", "sales.orders.note") out of that table of
    /// Pipeline:Tables only. Every other column is mirrored, also one added to the source later. The default leaves out
    /// the social security number, which the e-mail service does not need. Key columns are always mirrored.
    /// </summary>
    public string ExcludeColumns { get; set; } = "ssn";

    /// <summary>What MySQL does with a column the source drops: keep it (NULL in versions written after the drop) or drop it.</summary>
    public ColumnDropPolicy OnColumnDropped { get; set; } = ColumnDropPolicy.Keep;

    /// <summary>Rows per multi-row INSERT when a small batch is staged (fewer when the table is wide: MySQL's parameter limit).</summary>
    public int StatementRows { get; set; } = 500;

    /// <summary>Batches of at least this many records are staged by bulk copy (LOAD DATA LOCAL INFILE); smaller ones by INSERT.</summary>
    public int BulkCopyThreshold { get; set; } = 1000;

    /// <summary>The MySQL table of a topic's rows: <see cref="Table"/>, else the source table's name (schema_table outside public).</summary>
    public string TableOf(TableName table) =>
        !string.IsNullOrWhiteSpace(Table) ? Table : table.Schema is null or "public" ? table.Name : $"{table.Schema}_{table.Name}";

    /// <summary>The columns of <paramref name="table"/> left out: the plain entries of ExcludeColumns and that table's qualified ones.</summary>
    public IReadOnlySet<string> ExcludedColumnsOf(TableName table) => new HashSet<string>(
        Exclusions().Where(e => e.Table is null || SameTable(e.Table, table)).Select(e => e.Column), StringComparer.OrdinalIgnoreCase);

    /// <summary>The plain entries of ExcludeColumns (those that apply to every table).</summary>
    public IReadOnlySet<string> ExcludedColumns =>
        new HashSet<string>(Exclusions().Where(e => e.Table is null).Select(e => e.Column), StringComparer.OrdinalIgnoreCase);

    private static bool SameTable(TableName a, TableName b) => a.Is(b.Schema ?? "public", b.Name);

    /// <summary>Each entry of ExcludeColumns: "column" (Table null) or "table.column" / "schema.table.column"; Valid false for neither.</summary>
    private IEnumerable<(TableName? Table, string Column, string Entry, bool Valid)> Exclusions()
    {
        foreach (var entry in (ExcludeColumns ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var dot = entry.LastIndexOf('.');
            var column = entry[(dot + 1)..];
            if (dot < 0) yield return (null, column, entry, SqlIdentifier.IsValid(column));
            else if (TableName.TryParse(entry[..dot], out var table)) yield return (table, column, entry, SqlIdentifier.IsValid(column));
            else yield return (null, column, entry, false);
        }
    }

    protected override IEnumerable<string> ValidateSink(string section)
    {
        var messages = new List<string>();
        if (Table is not null)
        {
            messages.AddRange(Check.Identifier($"{section}:Table", Table));
            if (Table.Length > MaxTableName)
                messages.Add($"{section}:Table '{Table}' is too long: at most {MaxTableName} characters, so that '{Table}_deleted' is a valid MySQL name.");
        }
        if (!Enum.IsDefined(InsertMode))
            messages.Add($"{section}:InsertMode must be Upsert or Insert (got {InsertMode}).");
        foreach (var e in Exclusions().Where(e => !e.Valid))
            messages.Add($"{section}:ExcludeColumns '{ExcludeColumns}' must list column names (column, table.column or schema.table.column) " +
                         $"separated by commas; '{e.Entry}' is not one.");
        if (!Enum.IsDefined(OnColumnDropped))
            messages.Add($"{section}:OnColumnDropped must be Keep or Drop (got {OnColumnDropped}).");
        messages.AddRange(Check.Range($"{section}:StatementRows", StatementRows, 1, MaxStatementRows));
        messages.AddRange(Check.Range($"{section}:BulkCopyThreshold", BulkCopyThreshold, 1, int.MaxValue));
        return messages;
    }

    protected override IEnumerable<string> ValidateTopics(string section, IReadOnlyList<SinkTopic> topics)
    {
        var messages = new List<string>();
        if (!string.IsNullOrWhiteSpace(Table) && topics.Count > 1)
            messages.Add($"{section}:Table names one MySQL table, but the sink reads {topics.Count} topics ({PipelineOptions.Section}:Tables): " +
                         "leave it unset, each topic goes to the table named after its source table.");
        foreach (var t in topics.Where(t => string.IsNullOrWhiteSpace(Table) && TableOf(t.Table).Length > MaxTableName))
            messages.Add($"{PipelineOptions.Section}:Tables: the MySQL table of {t.Table}, '{TableOf(t.Table)}', is too long: at most {MaxTableName} " +
                         $"characters (so that its _deleted table is a valid MySQL name); set {section}:SourceTable and {section}:Table to carry it alone.");
        foreach (var e in Exclusions().Where(e => e.Valid && e.Table is { } table && !topics.Any(t => SameTable(t.Table, table))))
            messages.Add($"{section}:ExcludeColumns: '{e.Entry}' names table {e.Table}, which is not one of the tables this sink carries " +
                         $"({string.Join(", ", topics.Select(t => t.Table))}).");
        return messages;
    }
}
