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

    /// <summary>MySQL table written to (created from the first record's schema; its delete markers go to {Table}_deleted).</summary>
    public string Table { get; set; } = "users";

    public InsertMode InsertMode { get; set; } = InsertMode.Upsert;

    /// <summary>
    /// Source columns not mirrored in MySQL, comma-separated, case-insensitive: every other column is, also one added to
    /// the source later. The default leaves out the social security number, which the e-mail service does not need.
    /// Key columns are always mirrored.
    /// </summary>
    public string ExcludeColumns { get; set; } = "ssn";

    /// <summary>What MySQL does with a column the source drops: keep it (NULL in versions written after the drop) or drop it.</summary>
    public ColumnDropPolicy OnColumnDropped { get; set; } = ColumnDropPolicy.Keep;

    /// <summary>Rows per multi-row INSERT when a small batch is staged (fewer when the table is wide: MySQL's parameter limit).</summary>
    public int StatementRows { get; set; } = 500;

    /// <summary>Batches of at least this many records are staged by bulk copy (LOAD DATA LOCAL INFILE); smaller ones by INSERT.</summary>
    public int BulkCopyThreshold { get; set; } = 1000;

    public IReadOnlySet<string> ExcludedColumns =>
        new HashSet<string>((ExcludeColumns ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries), StringComparer.OrdinalIgnoreCase);

    protected override IEnumerable<string> ValidateSink(string section)
    {
        var messages = new List<string>();
        messages.AddRange(Check.Identifier($"{section}:Table", Table));
        if (Table?.Length > 55)
            messages.Add($"{section}:Table '{Table}' is too long: at most 55 characters, so that '{Table}_deleted' is a valid MySQL name.");
        if (!Enum.IsDefined(InsertMode))
            messages.Add($"{section}:InsertMode must be Upsert or Insert (got {InsertMode}).");
        foreach (var column in ExcludedColumns.Where(c => !SqlIdentifier.IsValid(c)))
            messages.Add($"{section}:ExcludeColumns '{ExcludeColumns}' must list column names separated by commas; '{column}' is not a valid identifier.");
        if (!Enum.IsDefined(OnColumnDropped))
            messages.Add($"{section}:OnColumnDropped must be Keep or Drop (got {OnColumnDropped}).");
        messages.AddRange(Check.Range($"{section}:StatementRows", StatementRows, 1, MaxStatementRows));
        messages.AddRange(Check.Range($"{section}:BulkCopyThreshold", BulkCopyThreshold, 1, int.MaxValue));
        return messages;
    }
}
