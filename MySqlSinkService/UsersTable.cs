using System.Globalization;
using System.Text;
using KafkaPipeline.Shared;
using MySqlConnector;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>A column of the users table the sink can write: its DDL, its staging type and its value.</summary>
public sealed record UserColumn(string Name, string Type, string StagingType, MySqlDbType DbType, Func<UserRecord, object> Value);

/// <summary>
/// The MySQL copy of <c>users</c> and the SQL that writes it. Only the configured columns are kept (the e-mail
/// service needs no social security number), plus the row's source version (updated_at, commit and change LSN) and
/// synced_at. A batch is loaded into a per-session staging table first and then applied with set-based statements
/// that keep the stored row whenever it is newer than the incoming record, the same for deletes: a delete leaves a
/// marker (table {table}_deleted) so that an older record replayed later cannot bring the row back. Names come from
/// configuration: validated and quoted; values are parameters.
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
        new("id", "BIGINT NOT NULL", "BIGINT NOT NULL", MySqlDbType.Int64, u => u.Id),
        new("name", "VARCHAR(255) NOT NULL", "LONGTEXT", MySqlDbType.VarChar, u => u.Name),
        new("username", "VARCHAR(255) NOT NULL", "LONGTEXT", MySqlDbType.VarChar, u => u.Username),
        new("sex", "VARCHAR(255) NOT NULL", "LONGTEXT", MySqlDbType.VarChar, u => u.Sex),
        new("address", "TEXT NOT NULL", "LONGTEXT", MySqlDbType.Text, u => u.Address),
        new("mail", "VARCHAR(255) NOT NULL", "LONGTEXT", MySqlDbType.VarChar, u => u.Mail),
        new("birthdate", "DATE NOT NULL", "DATE", MySqlDbType.Date, u => u.Birthdate.ToDateTime(TimeOnly.MinValue)),
        new("job", "VARCHAR(255) NOT NULL", "LONGTEXT", MySqlDbType.VarChar, u => u.Job),
        new("company", "VARCHAR(255) NOT NULL", "LONGTEXT", MySqlDbType.VarChar, u => u.Company),
        new("ssn", "VARCHAR(255) NOT NULL", "LONGTEXT", MySqlDbType.VarChar, u => u.Ssn),
        new("residence", "TEXT NOT NULL", "LONGTEXT", MySqlDbType.Text, u => u.Residence),
        new("created_at", "DATETIME(6) NOT NULL COMMENT 'UTC'", "DATETIME(6)", MySqlDbType.DateTime, u => Utc(u.CreatedAt)),
        new("updated_at", "DATETIME(6) NOT NULL COMMENT 'UTC, version of the row (a delete: its commit time)'", "DATETIME(6) NOT NULL",
            MySqlDbType.DateTime, u => Utc(u.UpdatedAt)),
    ];

    private readonly InsertMode _mode;

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

    /// <summary>A fresh staging table for the session (TEMPORARY: neither statement ends a transaction).</summary>
    public string StagingSql => $"""
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
    public IEnumerable<string> StagingColumns => s_stagingKey.Concat(Columns.Skip(1).Select(c => c.Name)).Concat([CommitLsn, ChangeLsn]);

    private static readonly string[] s_stagingKey = ["id", "op"];

    /// <summary>
    /// Staged upserts into the table, each only when newer than the stored row and than a remembered delete. The
    /// SELECT reads the table with locking reads (REPEATABLE READ), so a concurrent writer of the same id waits or
    /// deadlocks (and retries) instead of interleaving. Insert mode refuses an existing id (duplicate key).
    /// </summary>
    public string UpsertSql(bool oneId)
    {
        var cols = Columns.Select(c => c.Name).Concat([CommitLsn, ChangeLsn]).ToList();
        var sql = new StringBuilder();
        sql.Append("INSERT INTO ").Append(Quoted).Append(" (").AppendJoin(", ", cols.Append(SyncedAt).Select(Q)).Append(")\n")
           .Append("SELECT ").AppendJoin(", ", cols.Select(c => "s." + Q(c))).Append(", UTC_TIMESTAMP(6)\n")
           .Append(From('u')).Append(" AND ").Append(_mode == InsertMode.Upsert ? "(u.`id` IS NULL OR " + Newer("u") + ")" : "TRUE");
        if (oneId) sql.Append(" AND s.`id` = @id");
        if (_mode == InsertMode.Upsert)
        {
            sql.Append("\nON DUPLICATE KEY UPDATE ")
               .AppendJoin(", ", cols.Skip(1).Select(c => $"{Q(c)} = s.{Q(c)}")).Append(", `").Append(SyncedAt).Append("` = UTC_TIMESTAMP(6)");
        }
        return sql.ToString();
    }

    /// <summary>Staged deletes: remember the delete (when newer than what is known), then remove the row when older.</summary>
    public string DeleteSql(bool oneId)
    {
        var only = oneId ? " AND s.`id` = @id" : "";
        return $"""
            INSERT INTO {QuotedDeleted} (`id`, `updated_at`, `{CommitLsn}`, `{ChangeLsn}`, `deleted_at`)
            SELECT s.`id`, s.`updated_at`, s.`{CommitLsn}`, s.`{ChangeLsn}`, UTC_TIMESTAMP(6)
            {From('d')} AND (u.`id` IS NULL OR {Newer("u")}){only}
            ON DUPLICATE KEY UPDATE `updated_at` = s.`updated_at`, `{CommitLsn}` = s.`{CommitLsn}`, `{ChangeLsn}` = s.`{ChangeLsn}`, `deleted_at` = UTC_TIMESTAMP(6);
            DELETE u FROM {Quoted} u JOIN `{Staging}` s ON s.`id` = u.`id` WHERE s.`op` = 'd' AND {Newer("u")}{only}
            """;
    }

    // Upserts ('u') and deletes ('d') read the row and the delete marker of each staged id; both skip what a newer marker covers.
    private string From(char op) =>
        $"FROM `{Staging}` s LEFT JOIN {Quoted} u ON u.`id` = s.`id` LEFT JOIN {QuotedDeleted} d ON d.`id` = s.`id`\n" +
        $"WHERE s.`op` = '{op}' AND (d.`id` IS NULL OR {Newer("d")})";

    /// <summary>The staged version is newer than x's: by (commit LSN, change LSN) when both have one, else by updated_at.</summary>
    private static string Newer(string x) =>
        $"(CASE WHEN s.`{CommitLsn}` <> 0 AND {x}.`{CommitLsn}` <> 0 " +
        $"THEN (s.`{CommitLsn}`, s.`{ChangeLsn}`) > ({x}.`{CommitLsn}`, {x}.`{ChangeLsn}`) " +
        $"ELSE s.`updated_at` > {x}.`updated_at` END)";

    /// <summary>Multi-row INSERT of <paramref name="rows"/> staged rows, parameters @p0.. row-major in <see cref="StagingColumns"/> order.</summary>
    public string StageSql(int rows)
    {
        var columns = StagingColumns.ToList();
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
