using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using KafkaPipeline.Shared;
using MySqlConnector;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>
/// The MySQL copy of <c>users</c>: its DDL and the parameterised multi-row statements that write it. The table name
/// comes from configuration, so it is validated and quoted; every value travels as a parameter.
/// </summary>
public sealed class UsersTable
{
    /// <summary>Columns that come from the record, in <see cref="UsersSchema.Columns"/> order.</summary>
    public static IReadOnlyList<string> RecordColumns => UsersSchema.Columns;

    /// <summary>Set by the sink at write time (UTC); updated_at -> synced_at is the end-to-end latency.</summary>
    public const string SyncedAt = "synced_at";

    private readonly ConcurrentDictionary<int, string> _statements = new();
    private readonly InsertMode _mode;

    public UsersTable(string table, InsertMode mode)
    {
        Name = SqlIdentifier.Require(table, "MySqlSink:Table");
        Quoted = SqlIdentifier.QuoteMySql(table);
        _mode = mode;
    }

    public string Name { get; }
    public string Quoted { get; }

    /// <summary>
    /// MySQL 8.0.19+ spells the upsert with a row alias (`AS new ... c = new.c`); VALUES(c) there is deprecated and
    /// draws a warning per statement. MariaDB knows only VALUES(c). Set once from the server version, before writing.
    /// </summary>
    public bool UseRowAlias
    {
        get => _useRowAlias;
        set
        {
            if (value != _useRowAlias) _statements.Clear();
            _useRowAlias = value;
        }
    }

    private bool _useRowAlias;

    /// <summary>True for MySQL 8.0.19 and later; false for MariaDB (whose version string says so) and older MySQL.</summary>
    public static bool SupportsRowAlias(string serverVersion)
    {
        if (serverVersion.Contains("MariaDB", StringComparison.OrdinalIgnoreCase)) return false;
        var digits = new string(serverVersion.TakeWhile(c => char.IsDigit(c) || c == '.').ToArray());
        return Version.TryParse(digits, out var v) && v >= new Version(8, 0, 19);
    }

    /// <summary>
    /// utf8mb4 so any text PostgreSQL holds fits; DATETIME(6) holds the UTC timestamps with PostgreSQL's microsecond
    /// precision; the index on synced_at serves "latest end-to-end latency" queries of the status line.
    /// </summary>
    public string CreateSql => $"""
        CREATE TABLE IF NOT EXISTS {Quoted} (
            `id`         BIGINT       NOT NULL,
            `name`       VARCHAR(255) NOT NULL,
            `username`   VARCHAR(255) NOT NULL,
            `sex`        VARCHAR(255) NOT NULL,
            `address`    TEXT         NOT NULL,
            `mail`       VARCHAR(255) NOT NULL,
            `birthdate`  DATE         NOT NULL,
            `job`        VARCHAR(255) NOT NULL,
            `company`    VARCHAR(255) NOT NULL,
            `ssn`        VARCHAR(255) NOT NULL,
            `residence`  TEXT         NOT NULL,
            `created_at` DATETIME(6)  NOT NULL COMMENT 'UTC',
            `updated_at` DATETIME(6)  NOT NULL COMMENT 'UTC, PostgreSQL commit of this version',
            `synced_at`  DATETIME(6)  NOT NULL COMMENT 'UTC, written by the MySQL sink',
            PRIMARY KEY (`id`),
            KEY (`synced_at`)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
        """;

    /// <summary>Selects every column the sink writes and nothing else: fails (1146/1054) when the table is missing or differs.</summary>
    public string ProbeSql =>
        $"SELECT {string.Join(", ", RecordColumns.Append(SyncedAt).Select(SqlIdentifier.QuoteMySql))} FROM {Quoted} LIMIT 0";

    /// <summary>
    /// INSERT of <paramref name="rows"/> rows, parameters @p0..@p{rows*13-1} (row-major, <see cref="RecordColumns"/> order).
    /// Upsert: ON DUPLICATE KEY UPDATE c=VALUES(c) for every column, so a replay leaves the row as it was; synced_at is
    /// assigned first (MySQL evaluates the assignments left to right) and only moves when the version changed, so a
    /// replayed record leaves even synced_at alone.
    /// </summary>
    public string InsertSql(int rows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        return _statements.GetOrAdd(rows, Build);
    }

    private string Build(int rows)
    {
        var columns = RecordColumns.Count;
        var sql = new StringBuilder(64 + rows * columns * 8);
        sql.Append("INSERT INTO ").Append(Quoted).Append(" (");
        sql.AppendJoin(", ", RecordColumns.Append(SyncedAt).Select(SqlIdentifier.QuoteMySql));
        sql.Append(") VALUES ");
        for (var r = 0; r < rows; r++)
        {
            if (r > 0) sql.Append(", ");
            sql.Append('(');
            for (var c = 0; c < columns; c++)
            {
                sql.Append("@p").Append((r * columns + c).ToString(CultureInfo.InvariantCulture)).Append(", ");
            }
            sql.Append("UTC_TIMESTAMP(6))");
        }
        if (_mode == InsertMode.Upsert)
        {
            string New(string quoted) => _useRowAlias ? "`new`." + quoted : "VALUES(" + quoted + ")";
            if (_useRowAlias) sql.Append(" AS `new`");
            sql.Append(" ON DUPLICATE KEY UPDATE `synced_at` = IF(`updated_at` <=> ").Append(New("`updated_at`"))
               .Append(", `synced_at`, ").Append(New("`synced_at`")).Append(')');
            foreach (var column in RecordColumns.Skip(1)) // not the key
            {
                var q = SqlIdentifier.QuoteMySql(column);
                sql.Append(", ").Append(q).Append(" = ").Append(New(q));
            }
        }
        return sql.ToString();
    }

    /// <summary>Adds the parameters of <paramref name="users"/> in the order <see cref="InsertSql"/> expects.</summary>
    public static void AddParameters(MySqlParameterCollection parameters, IEnumerable<UserRecord> users)
    {
        var i = 0;
        foreach (var u in users)
        {
            Add(parameters, ref i, MySqlDbType.Int64, u.Id);
            Add(parameters, ref i, MySqlDbType.VarChar, u.Name);
            Add(parameters, ref i, MySqlDbType.VarChar, u.Username);
            Add(parameters, ref i, MySqlDbType.VarChar, u.Sex);
            Add(parameters, ref i, MySqlDbType.Text, u.Address);
            Add(parameters, ref i, MySqlDbType.VarChar, u.Mail);
            Add(parameters, ref i, MySqlDbType.Date, u.Birthdate.ToDateTime(TimeOnly.MinValue));
            Add(parameters, ref i, MySqlDbType.VarChar, u.Job);
            Add(parameters, ref i, MySqlDbType.VarChar, u.Company);
            Add(parameters, ref i, MySqlDbType.VarChar, u.Ssn);
            Add(parameters, ref i, MySqlDbType.Text, u.Residence);
            Add(parameters, ref i, MySqlDbType.DateTime, Utc(u.CreatedAt));
            Add(parameters, ref i, MySqlDbType.DateTime, Utc(u.UpdatedAt));
        }
    }

    private static void Add(MySqlParameterCollection parameters, ref int index, MySqlDbType type, object value)
    {
        parameters.Add(new MySqlParameter("@p" + index.ToString(CultureInfo.InvariantCulture), type) { Value = value });
        index++;
    }

    // DATETIME has no zone: the columns hold UTC wall-clock values.
    private static DateTime Utc(DateTime value) =>
        DateTime.SpecifyKind(value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : value, DateTimeKind.Unspecified);
}
