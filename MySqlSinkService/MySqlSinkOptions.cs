using KafkaPipeline.Shared;

namespace KafkaPipeline.MySqlSinkService;

public enum InsertMode
{
    /// <summary>Insert or update by id, keeping the stored row when it is newer: replays and stale writers change nothing.</summary>
    Upsert,

    /// <summary>
    /// Plain INSERT: each record must carry a new id. A record whose id is already in the table (an update, or a
    /// replay after a crash) fails with a duplicate-key error and goes to the dead-letter topic; the rest flows.
    /// </summary>
    Insert,
}

/// <summary>Settings "MySqlSink:*". Connection strings: ConnectionStrings:emaildb (MySQL) and ConnectionStrings:kafka.</summary>
public sealed class MySqlSinkOptions() : SinkOptions("mysql-sink", "mysql")
{
    public const string Section = "MySqlSink";

    /// <summary>Most parameters MySQL accepts in one statement (65535) divided by the 17 staged columns, rounded down.</summary>
    public const int MaxStatementRows = 3800;

    /// <summary>The columns the e-mail service needs: who to write to, how to greet them, where they live (language).</summary>
    public const string DefaultColumns = "id,name,username,mail,residence,created_at,updated_at";

    /// <summary>MySQL table written to (created when missing; its delete markers go to {Table}_deleted).</summary>
    public string Table { get; set; } = "users";

    public InsertMode InsertMode { get; set; } = InsertMode.Upsert;

    /// <summary>
    /// Columns of the record kept in MySQL, comma-separated (id and updated_at always). The default leaves out what the
    /// e-mail service does not need, the social security number first; "*" keeps every column.
    /// </summary>
    public string Columns { get; set; } = DefaultColumns;

    /// <summary>Rows per multi-row INSERT when a small batch is staged.</summary>
    public int StatementRows { get; set; } = 500;

    /// <summary>Batches of at least this many records are staged by bulk copy (LOAD DATA LOCAL INFILE); smaller ones by INSERT.</summary>
    public int BulkCopyThreshold { get; set; } = 1000;

    public IReadOnlyList<string> ColumnList =>
        Columns.Trim() == "*" ? UsersSchema.Columns : [.. Columns.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)];

    protected override IEnumerable<string> ValidateSink(string section)
    {
        var messages = new List<string>();
        messages.AddRange(Check.Identifier($"{section}:Table", Table));
        if (Table?.Length > 55)
            messages.Add($"{section}:Table '{Table}' is too long: at most 55 characters, so that '{Table}_deleted' is a valid MySQL name.");
        if (!Enum.IsDefined(InsertMode))
            messages.Add($"{section}:InsertMode must be Upsert or Insert (got {InsertMode}).");
        var unknown = ColumnList.Where(c => !UsersSchema.Columns.Contains(c)).ToList();
        if (unknown.Count > 0 || ColumnList.Count == 0)
            messages.Add($"{section}:Columns '{Columns}' must list columns of {string.Join(", ", UsersSchema.Columns)} (or be *); unknown: {string.Join(", ", unknown)}.");
        messages.AddRange(Check.Range($"{section}:StatementRows", StatementRows, 1, MaxStatementRows));
        messages.AddRange(Check.Range($"{section}:BulkCopyThreshold", BulkCopyThreshold, 1, int.MaxValue));
        return messages;
    }
}
