using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using KafkaPipeline.Shared;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>
/// The MySQL copy of a source table: its name and its delete markers' ({table}_deleted), the sink's own columns, and
/// the DDL that creates both. A row holds the source columns the sink mirrors plus where its version stands
/// (<see cref="RecordVersion"/>) and synced_at; a delete leaves a marker keyed like the table, so that an older record
/// replayed later cannot bring the row back. Names come from configuration or the source: validated and quoted.
/// </summary>
public sealed class MirrorTable
{
    public const string SyncedAt = "synced_at";
    public const string DeletedAt = "deleted_at";
    public const string Staging = "kafkapipeline_staging";
    public const string RowColumn = "src_row";
    public const string OpColumn = "src_op";
    public const string UnchangedColumn = "src_unchanged";

    /// <summary>The columns the sink itself writes in every table row.</summary>
    public static readonly string[] SinkColumns = [.. RecordVersion.Columns, SyncedAt];

    // A source column of one of these names would collide with the sink's own columns in the table or in staging.
    private static readonly HashSet<string> s_reserved = new([.. SinkColumns, RowColumn, OpColumn, UnchangedColumn], StringComparer.OrdinalIgnoreCase);

    public MirrorTable(string name)
    {
        Name = SqlIdentifier.Require(name, "MySqlSink:Table");
        Quoted = SqlIdentifier.QuoteMySql(name);
        DeletedName = name + "_deleted";
        QuotedDeleted = SqlIdentifier.QuoteMySql(DeletedName);
    }

    public string Name { get; }
    public string Quoted { get; }
    public string DeletedName { get; }
    public string QuotedDeleted { get; }

    /// <summary>A source column the sink cannot mirror under its name (a key column also meets the markers' deleted_at).</summary>
    public static bool IsReserved(string column, bool isKey) =>
        s_reserved.Contains(column) || (isKey && string.Equals(column, DeletedAt, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Creates the table and its delete markers when missing: the key columns NOT NULL (text ones with a binary
    /// collation: PostgreSQL's keys are case-sensitive), every other column nullable. utf8mb4 holds any text PostgreSQL
    /// does; synced_at is indexed for the status line.
    /// </summary>
    /// <param name="columns">In table order.</param>
    /// <param name="key">The key's columns in key order.</param>
    public string CreateSql(IReadOnlyList<(string Name, MySqlType Type, bool IsKey)> columns, IReadOnlyList<string> key)
    {
        string Column((string Name, MySqlType Type, bool IsKey) c) => c.IsKey ? $"{Q(c.Name)} {KeyType(c.Type)} NOT NULL" : $"{Q(c.Name)} {c.Type.Sql} NULL";
        var keyList = string.Join(", ", key.Select(Q));
        return $"""
            CREATE TABLE IF NOT EXISTS {Quoted} (
                {string.Join(",\n    ", columns.Select(Column))},
                {VersionColumnsSql},
                `{SyncedAt}` DATETIME(6) NOT NULL COMMENT 'UTC, written by the MySQL sink',
                PRIMARY KEY ({keyList}),
                KEY (`{SyncedAt}`)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
            CREATE TABLE IF NOT EXISTS {QuotedDeleted} (
                {string.Join(",\n    ", key.Select(k => Column(columns.Single(c => c.Name == k))))},
                {VersionColumnsSql},
                `{DeletedAt}` DATETIME(6) NOT NULL COMMENT 'UTC, when the sink deleted the row',
                PRIMARY KEY ({keyList})
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='Deletes seen by the MySQL sink: an older record replayed later must not bring the row back'
            """;
    }

    /// <summary>A key column's type: text ones binary-collated.</summary>
    public static string KeyType(MySqlType type) => type.IsText ? $"{type.Sql} COLLATE {MySqlColumnTypes.KeyCollation}" : type.Sql;

    private const string VersionColumnsSql = $"""
        `{RecordVersion.EpochColumn}` BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'ordinal of the source epoch of this version (0: none)',
            `{RecordVersion.CommitLsnColumn}` BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'PostgreSQL commit LSN of this version (0: none)',
            `{RecordVersion.ChangeLsnColumn}` BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'PostgreSQL LSN of the change within its transaction',
            `{RecordVersion.TimeColumn}` DATETIME(6) NOT NULL DEFAULT '1970-01-01 00:00:00' COMMENT 'UTC, commit time of this version (orders versions without an LSN)'
        """;

    /// <summary>
    /// What a table of the sink's earlier releases lacks (src_epoch, src_commit_ts), added with the values that keep
    /// its order: epoch 0 (older than any epoch) and the commit time from updated_at, which ordered versions then. Its
    /// markers' updated_at becomes nullable (the sink writes src_commit_ts instead). Empty when nothing is missing.
    /// </summary>
    public static List<string> UpgradeSql(string quotedTable, TableLayout layout, bool markers)
    {
        var sql = new List<string>();
        if (!layout.Has(RecordVersion.EpochColumn))
            sql.Add($"ALTER TABLE {quotedTable} ADD COLUMN `{RecordVersion.EpochColumn}` BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'ordinal of the source epoch of this version (0: none)'");
        if (!layout.Has(RecordVersion.TimeColumn))
        {
            sql.Add($"ALTER TABLE {quotedTable} ADD COLUMN `{RecordVersion.TimeColumn}` DATETIME(6) NOT NULL DEFAULT '1970-01-01 00:00:00' COMMENT 'UTC, commit time of this version (orders versions without an LSN)'");
            if (layout.Column("updated_at") is { Type.Name: "datetime" })
            {
                sql.Add($"UPDATE {quotedTable} SET `{RecordVersion.TimeColumn}` = `updated_at`");
                if (markers) sql.Add($"ALTER TABLE {quotedTable} MODIFY `updated_at` DATETIME(6) NULL");
            }
        }
        return sql;
    }

    private static string Q(string name) => SqlIdentifier.QuoteMySql(name);
}

/// <summary>
/// The statements that write a batch into one layout of a table (built once per layout; a DDL gives a new one). The
/// batch is loaded into a per-session staging table first, typed like the table so that a value that does not fit is
/// refused while staging; <see cref="GuardSql"/> drops what is not newer than the stored row or delete marker, and
/// set-based statements write the rest. Values are parameters; names are validated and quoted.
/// </summary>
public sealed class MirrorStatements
{
    private readonly MirrorTable _table;
    private readonly InsertMode _mode;
    private readonly ConcurrentDictionary<int, string> _stageSql = new();
    private readonly string?[] _upsertSql = new string?[4], _deleteSql = new string?[2];

    public MirrorStatements(MirrorTable table, TableLayout layout, IReadOnlySet<string> excluded, InsertMode mode)
    {
        _table = table;
        _mode = mode;
        Layout = layout;
        Key = [.. layout.Key.Select(k => layout.Column(k)!)];
        Data = [.. layout.Columns.Where(c => !layout.Key.Contains(c.Name, StringComparer.OrdinalIgnoreCase) && c.Type is not null
            && !MirrorTable.IsReserved(c.Name, isKey: false) && !excluded.Contains(c.Name))];
        Written = [.. Key, .. Data];
        StagingColumns = [MirrorTable.RowColumn, MirrorTable.OpColumn, .. Written.Select(c => c.Name), MirrorTable.UnchangedColumn, .. RecordVersion.Columns];
        RowsPerStatement = 65_535 / StagingColumns.Count; // MySQL's limit of parameters per statement
        StagingSql = BuildStagingSql();
        GuardSql = BuildGuardSql();
    }

    public TableLayout Layout { get; }
    public IReadOnlyList<MySqlColumn> Key { get; }

    /// <summary>The other columns the sink writes: every column of a type it knows but its own and the excluded ones.</summary>
    public IReadOnlyList<MySqlColumn> Data { get; }

    /// <summary>Key then data columns: the order of a staged row's values after its op.</summary>
    public IReadOnlyList<MySqlColumn> Written { get; }

    /// <summary>src_row, src_op, the written columns, src_unchanged, the version columns.</summary>
    public IReadOnlyList<string> StagingColumns { get; }

    public int RowsPerStatement { get; }

    /// <summary>A fresh staging table for the session (TEMPORARY: neither statement ends a transaction).</summary>
    public string StagingSql { get; }

    /// <summary>
    /// Locks the rows and delete markers of the staged keys (and the gaps where there are none yet), then drops from
    /// staging every record that is not newer than what is stored: the statements after it write what is left
    /// unconditionally. The locks last until the commit, so a concurrent writer of the same keys (a stalled instance
    /// waking up) waits, or deadlocks and retries, and then sees the newer version. Insert mode keeps stale upserts, so
    /// that their existing keys are refused.
    /// </summary>
    public string GuardSql { get; }

    /// <summary>
    /// The staged upserts; with <paramref name="unchanged"/>, a column a record marks unchanged keeps its stored value
    /// (built only for batches that have such records). <paramref name="oneRow"/>: only staged row @row.
    /// </summary>
    public string UpsertSql(bool unchanged, bool oneRow) => _upsertSql[(unchanged ? 2 : 0) + (oneRow ? 1 : 0)] ??= BuildUpsertSql(unchanged, oneRow);

    /// <summary>The staged deletes: remember each delete, remove the row. <paramref name="oneRow"/>: only staged row @row.</summary>
    public string DeleteSql(bool oneRow) => _deleteSql[oneRow ? 1 : 0] ??= BuildDeleteSql(oneRow);

    /// <summary>Multi-row INSERT of <paramref name="rows"/> staged rows, parameters @p0.. row-major in <see cref="StagingColumns"/> order.</summary>
    public string StageSql(int rows) => _stageSql.GetOrAdd(rows, BuildStageSql);

    private string BuildStagingSql()
    {
        var columns = Written.Select(c => $"{Q(c.Name)} {c.TypeSql} NULL");
        return $"""
            DROP TEMPORARY TABLE IF EXISTS `{MirrorTable.Staging}`;
            CREATE TEMPORARY TABLE `{MirrorTable.Staging}` (
                `{MirrorTable.RowColumn}` INT NOT NULL PRIMARY KEY,
                `{MirrorTable.OpColumn}` CHAR(1) NOT NULL,
                {string.Join(",\n    ", columns)},
                `{MirrorTable.UnchangedColumn}` TEXT NULL,
                `{RecordVersion.EpochColumn}` BIGINT UNSIGNED NOT NULL,
                `{RecordVersion.CommitLsnColumn}` BIGINT UNSIGNED NOT NULL,
                `{RecordVersion.ChangeLsnColumn}` BIGINT UNSIGNED NOT NULL,
                `{RecordVersion.TimeColumn}` DATETIME(6) NOT NULL
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
            """;
    }

    private string KeyJoin(string alias) => string.Join(" AND ", Key.Select(k => $"{alias}.{Q(k.Name)} = s.{Q(k.Name)}"));

    private string BuildGuardSql()
    {
        var t = _table;
        var staleUpserts = _mode == InsertMode.Insert ? $"s.`{MirrorTable.OpColumn}` = 'd' AND " : "";
        return $"""
            SELECT COUNT(*) FROM `{MirrorTable.Staging}` s JOIN {t.Quoted} u ON {KeyJoin("u")} FOR UPDATE;
            SELECT COUNT(*) FROM `{MirrorTable.Staging}` s JOIN {t.QuotedDeleted} d ON {KeyJoin("d")} FOR UPDATE;
            DELETE s FROM `{MirrorTable.Staging}` s JOIN {t.Quoted} u ON {KeyJoin("u")} WHERE {staleUpserts}NOT {RecordVersion.NewerSql("s", "u")};
            DELETE s FROM `{MirrorTable.Staging}` s JOIN {t.QuotedDeleted} d ON {KeyJoin("d")} WHERE NOT {RecordVersion.NewerSql("s", "d")}
            """;
    }

    private string BuildUpsertSql(bool unchanged, bool oneRow)
    {
        var cols = Written.Select(c => c.Name).Concat(RecordVersion.Columns).ToList();
        var sql = new StringBuilder();
        sql.Append("INSERT INTO ").Append(_table.Quoted).Append(" (").AppendJoin(", ", cols.Append(MirrorTable.SyncedAt).Select(Q)).Append(")\n")
           .Append("SELECT ").AppendJoin(", ", cols.Select(c => "s." + Q(c))).Append(", UTC_TIMESTAMP(6) FROM `").Append(MirrorTable.Staging)
           .Append("` s WHERE s.`").Append(MirrorTable.OpColumn).Append("` = 'u'").Append(oneRow ? $" AND s.`{MirrorTable.RowColumn}` = @row" : "");
        if (_mode == InsertMode.Upsert)
        {
            // The stored value is the table's column qualified by the table's name: unqualified, a name the staging
            // table also has is ambiguous in INSERT ... SELECT ... ON DUPLICATE KEY UPDATE on MySQL.
            var data = Data.Select((c, i) => unchanged
                ? $"{Q(c.Name)} = IF(FIND_IN_SET('{i.ToString(CultureInfo.InvariantCulture)}', s.`{MirrorTable.UnchangedColumn}`) > 0, {_table.Quoted}.{Q(c.Name)}, s.{Q(c.Name)})"
                : $"{Q(c.Name)} = s.{Q(c.Name)}");
            sql.Append("\nON DUPLICATE KEY UPDATE ")
               .AppendJoin(", ", data.Concat(RecordVersion.Columns.Select(c => $"{Q(c)} = s.{Q(c)}")))
               .Append(", `").Append(MirrorTable.SyncedAt).Append("` = UTC_TIMESTAMP(6)");
        }
        return sql.ToString();
    }

    private string BuildDeleteSql(bool oneRow)
    {
        var only = oneRow ? $" AND s.`{MirrorTable.RowColumn}` = @row" : "";
        var keys = Key.Select(k => Q(k.Name)).ToList();
        var version = RecordVersion.Columns.Select(Q).ToList();
        return $"""
            INSERT INTO {_table.QuotedDeleted} ({string.Join(", ", keys.Concat(version))}, `{MirrorTable.DeletedAt}`)
            SELECT {string.Join(", ", keys.Concat(version).Select(c => "s." + c))}, UTC_TIMESTAMP(6) FROM `{MirrorTable.Staging}` s WHERE s.`{MirrorTable.OpColumn}` = 'd'{only}
            ON DUPLICATE KEY UPDATE {string.Join(", ", version.Select(c => $"{c} = s.{c}"))}, `{MirrorTable.DeletedAt}` = UTC_TIMESTAMP(6);
            DELETE u FROM {_table.Quoted} u JOIN `{MirrorTable.Staging}` s ON {KeyJoin("u")} WHERE s.`{MirrorTable.OpColumn}` = 'd'{only}
            """;
    }

    private string BuildStageSql(int rows)
    {
        var columns = StagingColumns;
        var sql = new StringBuilder(64 + rows * columns.Count * 8);
        sql.Append("INSERT INTO `").Append(MirrorTable.Staging).Append("` (").AppendJoin(", ", columns.Select(Q)).Append(") VALUES ");
        for (var r = 0; r < rows; r++)
        {
            sql.Append(r == 0 ? "(" : ", (");
            for (var c = 0; c < columns.Count; c++)
                sql.Append(c == 0 ? "" : ", ").Append("@p").Append((r * columns.Count + c).ToString(CultureInfo.InvariantCulture));
            sql.Append(')');
        }
        return sql.ToString();
    }

    private static string Q(string name) => SqlIdentifier.QuoteMySql(name);
}
