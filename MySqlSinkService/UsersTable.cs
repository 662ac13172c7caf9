using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using KafkaPipeline.Shared;
using MySqlConnector;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>A column of the users table the sink can write: its type (also in staging, NULL allowed there) and its value.</summary>
public sealed record UserColumn(string Name, string Type, MySqlDbType DbType, Func<UserRecord, object> Value)
{
    public string StagingType => Type.Split(" NOT NULL")[0];
}

/// <summary>
/// The MySQL copy of <c>users</c> and the SQL that writes it. Only the configured columns are kept (the e-mail
/// service needs no social security number), plus the row's source version (updated_at, commit and change LSN) and
/// synced_at. A batch is loaded into a per-session staging table first; <see cref="GuardSql"/> drops what is not newer
/// than the stored row (by source version), and set-based statements write the rest; deletes the same way, each
/// leaving a marker (table {table}_deleted) so that an older record replayed later cannot bring the row back. Names
/// come from configuration: validated and quoted; values are parameters.
/// </summary>
public sealed class UsersTable
{
    public const string SyncedAt = "synced_at";
    public const string CommitLsn = "src_commit_lsn";
    public const string ChangeLsn = "src_change_lsn";
    public const string Staging = "kafkapipeline_staging";

    /// <summary>Every column of the record contract, in <see cref="UsersSchema.Columns"/> order.</summary>
    public static readonly IReadOnlyList<UserColumn> AllColumns =
    [
        new("id", "BIGINT NOT NULL", MySqlDbType.Int64, u => u.Id),
        new("name", "VARCHAR(255) NOT NULL", MySqlDbType.VarChar, u => u.Name),
        new("username", "VARCHAR(255) NOT NULL", MySqlDbType.VarChar, u => u.Username),
        new("sex", "VARCHAR(255) NOT NULL", MySqlDbType.VarChar, u => u.Sex),
        new("address", "TEXT NOT NULL", MySqlDbType.Text, u => u.Address),
        new("mail", "VARCHAR(255) NOT NULL", MySqlDbType.VarChar, u => u.Mail),
        new("birthdate", "DATE NOT NULL", MySqlDbType.Date, u => u.Birthdate.ToDateTime(TimeOnly.MinValue)),
        new("job", "VARCHAR(255) NOT NULL", MySqlDbType.VarChar, u => u.Job),
        new("company", "VARCHAR(255) NOT NULL", MySqlDbType.VarChar, u => u.Company),
        new("ssn", "VARCHAR(255) NOT NULL", MySqlDbType.VarChar, u => u.Ssn),
        new("residence", "TEXT NOT NULL", MySqlDbType.Text, u => u.Residence),
        new("created_at", "DATETIME(6) NOT NULL COMMENT 'UTC'", MySqlDbType.DateTime, u => Utc(u.CreatedAt)),
        new("updated_at", "DATETIME(6) NOT NULL COMMENT 'UTC, version of the row'", MySqlDbType.DateTime, u => Utc(u.UpdatedAt)),
    ];

    private readonly InsertMode _mode;

    // The statements depend only on the table, columns and mode: built once, not for every batch (or every record of a
    // batch retried id by id).
    private string? _stagingSql, _guardSql;
    private string[]? _stagingColumns;
    private readonly string?[] _upsertSql = new string?[2], _deleteSql = new string?[2];
    private readonly ConcurrentDictionary<int, string> _stageSql = new();

    public UsersTable(string table, InsertMode mode, IEnumerable<string> columns)
    {
        Name = SqlIdentifier.Require(table, "MySqlSink:Table");
        Quoted = SqlIdentifier.QuoteMySql(table);
        QuotedDeleted = SqlIdentifier.QuoteMySql(table + "_deleted");
        var wanted = columns.Append("id").Append("updated_at").ToHashSet(StringComparer.Ordinal);
        Columns = [.. AllColumns.Where(c => wanted.Contains(c.Name))];
        _mode = mode;
    }

    public string Name { get; }
    public string Quoted { get; }
    public string QuotedDeleted { get; }

    /// <summary>The record columns kept, id first and updated_at last (contract order).</summary>
    public IReadOnlyList<UserColumn> Columns { get; }

    /// <summary>Every column the sink writes, in table order.</summary>
    public IEnumerable<string> WrittenColumns => Columns.Select(c => c.Name).Concat([CommitLsn, ChangeLsn, SyncedAt]);

    /// <summary>utf8mb4 for any text PostgreSQL holds; DATETIME(6) holds PostgreSQL's microseconds; synced_at indexed for the status line.</summary>
    public string CreateSql => $"""
        CREATE TABLE IF NOT EXISTS {Quoted} (
            {string.Join(",\n    ", Columns.Select(c => $"{Q(c.Name)} {c.Type}"))},
            `{CommitLsn}` BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'PostgreSQL commit LSN of this version (0: none)',
            `{ChangeLsn}` BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'PostgreSQL LSN of the change within its transaction',
            `{SyncedAt}` DATETIME(6) NOT NULL COMMENT 'UTC, written by the MySQL sink',
            PRIMARY KEY (`id`),
            KEY (`{SyncedAt}`)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
        CREATE TABLE IF NOT EXISTS {QuotedDeleted} (
            `id` BIGINT NOT NULL PRIMARY KEY,
            `updated_at` DATETIME(6) NOT NULL COMMENT 'UTC, commit time of the delete',
            `{CommitLsn}` BIGINT UNSIGNED NOT NULL DEFAULT 0,
            `{ChangeLsn}` BIGINT UNSIGNED NOT NULL DEFAULT 0,
            `deleted_at` DATETIME(6) NOT NULL COMMENT 'UTC, when the sink deleted the row'
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='Deletes seen by the MySQL sink: an older record replayed later must not bring the row back'
        """;

    /// <summary>
    /// A fresh staging table for the session (TEMPORARY: neither statement ends a transaction), typed like the table so
    /// that a value that does not fit is refused while staging.
    /// </summary>
    public string StagingSql => _stagingSql ??= $"""
        DROP TEMPORARY TABLE IF EXISTS `{Staging}`;
        CREATE TEMPORARY TABLE `{Staging}` (
            `id` BIGINT NOT NULL PRIMARY KEY,
            `op` CHAR(1) NOT NULL,
            {string.Join(",\n    ", Columns.Skip(1).Select(c => $"{Q(c.Name)} {c.StagingType}"))},
            `{CommitLsn}` BIGINT UNSIGNED NOT NULL,
            `{ChangeLsn}` BIGINT UNSIGNED NOT NULL
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
        """;

    /// <summary>Staging columns in order: id, op, the record columns but id, the LSNs.</summary>
    public IReadOnlyList<string> StagingColumns => _stagingColumns ??= [.. s_stagingKey.Concat(Columns.Skip(1).Select(c => c.Name)).Concat([CommitLsn, ChangeLsn])];

    private static readonly string[] s_stagingKey = ["id", "op"];

    /// <summary>
    /// Locks the rows and delete markers of the staged ids (and the gaps where there are none yet), then drops from the
    /// staging table every record that is not newer than what is stored: the statements after it write what is left
    /// unconditionally. The locks last until the commit, so a concurrent writer of the same ids (a stalled instance
    /// waking up) waits, or deadlocks and retries, and then sees the newer version. Insert mode keeps stale upserts, so
    /// that their duplicate ids are refused.
    /// </summary>
    public string GuardSql => _guardSql ??= $"""
        SELECT COUNT(*) FROM `{Staging}` s JOIN {Quoted} u ON u.`id` = s.`id` FOR UPDATE;
        SELECT COUNT(*) FROM `{Staging}` s JOIN {QuotedDeleted} d ON d.`id` = s.`id` FOR UPDATE;
        DELETE s FROM `{Staging}` s JOIN {Quoted} u ON u.`id` = s.`id` WHERE {(_mode == InsertMode.Insert ? "s.`op` = 'd' AND " : "")}NOT {Newer("u")};
        DELETE s FROM `{Staging}` s JOIN {QuotedDeleted} d ON d.`id` = s.`id` WHERE NOT {Newer("d")}
        """;

    /// <summary>The staged upserts (newer than what is stored, after <see cref="GuardSql"/>); Insert mode refuses an existing id.</summary>
    public string UpsertSql(bool oneId) => _upsertSql[oneId ? 1 : 0] ??= BuildUpsertSql(oneId);

    private string BuildUpsertSql(bool oneId)
    {
        var cols = Columns.Select(c => c.Name).Concat([CommitLsn, ChangeLsn]).ToList();
        var sql = new StringBuilder();
        sql.Append("INSERT INTO ").Append(Quoted).Append(" (").AppendJoin(", ", cols.Append(SyncedAt).Select(Q)).Append(")\n")
           .Append("SELECT ").AppendJoin(", ", cols.Select(c => "s." + Q(c))).Append(", UTC_TIMESTAMP(6) FROM `").Append(Staging)
           .Append("` s WHERE s.`op` = 'u'").Append(oneId ? " AND s.`id` = @id" : "");
        if (_mode == InsertMode.Upsert)
        {
            sql.Append("\nON DUPLICATE KEY UPDATE ")
               .AppendJoin(", ", cols.Skip(1).Select(c => $"{Q(c)} = s.{Q(c)}")).Append(", `").Append(SyncedAt).Append("` = UTC_TIMESTAMP(6)");
        }
        return sql.ToString();
    }

    /// <summary>The staged deletes (newer than what is stored, after <see cref="GuardSql"/>): remember each delete, remove the row.</summary>
    public string DeleteSql(bool oneId) => _deleteSql[oneId ? 1 : 0] ??= BuildDeleteSql(oneId);

    private string BuildDeleteSql(bool oneId)
    {
        var only = oneId ? " AND s.`id` = @id" : "";
        return $"""
            INSERT INTO {QuotedDeleted} (`id`, `updated_at`, `{CommitLsn}`, `{ChangeLsn}`, `deleted_at`)
            SELECT s.`id`, s.`updated_at`, s.`{CommitLsn}`, s.`{ChangeLsn}`, UTC_TIMESTAMP(6) FROM `{Staging}` s WHERE s.`op` = 'd'{only}
            ON DUPLICATE KEY UPDATE `updated_at` = s.`updated_at`, `{CommitLsn}` = s.`{CommitLsn}`, `{ChangeLsn}` = s.`{ChangeLsn}`, `deleted_at` = UTC_TIMESTAMP(6);
            DELETE u FROM {Quoted} u JOIN `{Staging}` s ON s.`id` = u.`id` WHERE s.`op` = 'd'{only}
            """;
    }

    /// <summary>The staged version is newer than x's: by (commit LSN, change LSN) when both have one, else by updated_at.</summary>
    private static string Newer(string x) =>
        $"(CASE WHEN s.`{CommitLsn}` <> 0 AND {x}.`{CommitLsn}` <> 0 " +
        $"THEN (s.`{CommitLsn}`, s.`{ChangeLsn}`) > ({x}.`{CommitLsn}`, {x}.`{ChangeLsn}`) " +
        $"ELSE s.`updated_at` > {x}.`updated_at` END)";

    /// <summary>Multi-row INSERT of <paramref name="rows"/> staged rows, parameters @p0.. row-major in <see cref="StagingColumns"/> order.</summary>
    public string StageSql(int rows) => _stageSql.GetOrAdd(rows, BuildStageSql);

    private string BuildStageSql(int rows)
    {
        var columns = StagingColumns;
        var sql = new StringBuilder(64 + rows * columns.Count * 8);
        sql.Append("INSERT INTO `").Append(Staging).Append("` (").AppendJoin(", ", columns.Select(Q)).Append(") VALUES ");
        for (var r = 0; r < rows; r++)
        {
            sql.Append(r == 0 ? "(" : ", (");
            for (var c = 0; c < columns.Count; c++)
                sql.Append(c == 0 ? "" : ", ").Append("@p").Append((r * columns.Count + c).ToString(CultureInfo.InvariantCulture));
            sql.Append(')');
        }
        return sql.ToString();
    }

    /// <summary>The staged values of one record, in <see cref="StagingColumns"/> order (deletes: id, version, nulls).</summary>
    public IEnumerable<(MySqlDbType Type, object? Value)> StagedValues(StagedRecord r)
    {
        yield return (MySqlDbType.Int64, r.Id);
        yield return (MySqlDbType.String, r.User is null ? "d" : "u");
        foreach (var c in Columns.Skip(1))
        {
            var value = r.User is { } u ? c.Value(u) : c.Name == "updated_at" ? Utc(r.VersionTime) : null;
            yield return (c.DbType, value);
        }
        yield return (MySqlDbType.UInt64, r.Version.CommitLsn);
        yield return (MySqlDbType.UInt64, r.Version.ChangeLsn);
    }

    private static string Q(string name) => SqlIdentifier.QuoteMySql(name);

    // DATETIME has no zone: the columns hold UTC wall-clock values.
    private static DateTime Utc(DateTime value) =>
        DateTime.SpecifyKind(value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : value, DateTimeKind.Unspecified);
}

/// <summary>What the writer stages for one id: the newest record of the batch (a user, or a delete when null).</summary>
public readonly record struct StagedRecord(long Id, UserRecord? User, SourceVersion Version, DateTime VersionTime);
