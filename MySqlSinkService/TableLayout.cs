using MySqlConnector;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>A column of a MySQL table as information_schema describes it.</summary>
/// <param name="Type">The type as the sink compares it, or null for a type the sink never writes.</param>
/// <param name="ColumnType">information_schema's COLUMN_TYPE, for messages.</param>
/// <param name="Collation">The collation of a character column (a plain identifier), else null.</param>
public sealed record MySqlColumn(string Name, MySqlType? Type, string ColumnType, bool Nullable, bool HasDefault, string? Collation)
{
    /// <summary>The column's type as a staging column or MODIFY writes it (with its collation for text); only for a known type.</summary>
    public string TypeSql => Type is null ? throw new InvalidOperationException($"column {Name} has a type the sink does not write ({ColumnType})")
        : Type.IsText && Collation is not null ? $"{Type.Sql} COLLATE {Collation}" : Type.Sql;
}

/// <summary>What MySQL has for one table: its columns in order and its primary key. Immutable: re-read after each DDL.</summary>
public sealed class TableLayout
{
    private readonly Dictionary<string, MySqlColumn> _byName;

    public TableLayout(IReadOnlyList<MySqlColumn> columns, IReadOnlyList<string> key)
    {
        Columns = columns;
        Key = key;
        // MySQL column names are case-insensitive.
        _byName = columns.ToDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);
    }

    public IReadOnlyList<MySqlColumn> Columns { get; }

    /// <summary>The primary key's columns in key order.</summary>
    public IReadOnlyList<string> Key { get; }

    public MySqlColumn? Column(string name) => _byName.GetValueOrDefault(name);

    public bool Has(string name) => _byName.ContainsKey(name);

    /// <summary>The table's layout, or null when MySQL has no such table (in the connection's database).</summary>
    public static async Task<TableLayout?> ReadAsync(MySqlConnection conn, string table, CancellationToken ct)
    {
        var rows = new List<(string Name, string DataType, string ColumnType, long? Length, long? Precision, long? Scale, long? Fsp, bool Nullable, bool HasDefault, string? Collation)>();
        await using (var cmd = new MySqlCommand(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, " +
            "IS_NULLABLE = 'YES', COLUMN_DEFAULT IS NOT NULL OR EXTRA LIKE '%auto_increment%', COLLATION_NAME " +
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = @t ORDER BY ORDINAL_POSITION", conn))
        {
            cmd.Parameters.AddWithValue("@t", table);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                rows.Add((r.GetString(0), r.GetString(1), r.GetString(2), Long(r, 3), Long(r, 4), Long(r, 5), Long(r, 6),
                    Convert.ToBoolean(r.GetValue(7), System.Globalization.CultureInfo.InvariantCulture),
                    Convert.ToBoolean(r.GetValue(8), System.Globalization.CultureInfo.InvariantCulture), r.IsDBNull(9) ? null : r.GetString(9)));
            }
        }
        if (rows.Count == 0) return null;

        var key = new List<string>();
        await using (var cmd = new MySqlCommand(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = @t " +
            "AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION", conn))
        {
            cmd.Parameters.AddWithValue("@t", table);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) key.Add(r.GetString(0));
        }

        // MariaDB's JSON is LONGTEXT with a json_valid() check named after the column; Oracle MySQL reports DATA_TYPE
        // 'json' (and its CHECK_CONSTRAINTS view has no TABLE_NAME column: ask only MariaDB).
        var json = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (conn.ServerVersion.Contains("MariaDB", StringComparison.OrdinalIgnoreCase))
        {
            await using var cmd = new MySqlCommand(
                "SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = @t", conn);
            cmd.Parameters.AddWithValue("@t", table);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var name = r.GetString(0);
                if (r.GetString(1) == $"json_valid(`{name}`)") json.Add(name);
            }
        }

        var columns = rows.Select(c =>
        {
            var type = json.Contains(c.Name) && c.DataType == "longtext" ? MySqlType.Json
                : MySqlType.FromInformationSchema(c.DataType, c.ColumnType, c.Length, c.Precision, c.Scale, c.Fsp);
            var collation = c.Collation is { } name && Shared.SqlIdentifier.IsValid(name) ? name : null;
            return new MySqlColumn(c.Name, type, c.ColumnType, c.Nullable, c.HasDefault, collation);
        }).ToList();
        return new TableLayout(columns, key);
    }

    private static long? Long(MySqlDataReader r, int i) => r.IsDBNull(i) ? null : Convert.ToInt64(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
}
