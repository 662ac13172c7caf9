using System.Globalization;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>
/// A MySQL column type as the sink compares them: information_schema's DATA_TYPE (lower case) with the length of a
/// character or binary type, or the precision and scale of a decimal, or the fractional seconds of a time. Integer
/// display widths and collations do not take part (MariaDB reports "bigint(20)", MySQL 8 "bigint": the same type).
/// </summary>
public sealed record MySqlType(string Name, long Length = 0, int Precision = 0, int Scale = 0)
{
    public static readonly MySqlType Boolean = new("tinyint");
    public static readonly MySqlType SmallInt = new("smallint");
    public static readonly MySqlType Int = new("int");
    public static readonly MySqlType BigInt = new("bigint");
    public static readonly MySqlType Float = new("float");
    public static readonly MySqlType Double = new("double");
    public static readonly MySqlType LongText = new("longtext");
    public static readonly MySqlType LongBlob = new("longblob");
    public static readonly MySqlType Date = new("date");
    public static readonly MySqlType Time = new("time", Precision: 6);
    public static readonly MySqlType DateTime = new("datetime", Precision: 6);
    public static readonly MySqlType Json = new("json");

    public static MySqlType VarChar(long length) => new("varchar", length);
    public static MySqlType Char(long length) => new("char", length);
    public static MySqlType VarBinary(long length) => new("varbinary", length);
    public static MySqlType Decimal(int precision, int scale) => new("decimal", Precision: precision, Scale: scale);

    /// <summary>The type as DDL writes it ("VARCHAR(255)", "DECIMAL(12,2)", "DATETIME(6)").</summary>
    public string Sql => Name switch
    {
        "tinyint" => "BOOLEAN",
        "varchar" or "char" or "varbinary" or "binary" => string.Create(CultureInfo.InvariantCulture, $"{Name.ToUpperInvariant()}({Length})"),
        "decimal" => string.Create(CultureInfo.InvariantCulture, $"DECIMAL({Precision},{Scale})"),
        "datetime" or "time" => Precision > 0 ? string.Create(CultureInfo.InvariantCulture, $"{Name.ToUpperInvariant()}({Precision})") : Name.ToUpperInvariant(),
        _ => Name.ToUpperInvariant(),
    };

    public override string ToString() => Sql;

    /// <summary>Character types, whose collation matters (a key's is binary: PostgreSQL's text keys are case-sensitive).</summary>
    public bool IsText => Name is "varchar" or "char" or "tinytext" or "text" or "mediumtext" or "longtext";

    private static readonly HashSet<string> s_known =
    [
        "tinyint", "smallint", "mediumint", "int", "bigint", "float", "double", "decimal", "varchar", "char", "tinytext", "text",
        "mediumtext", "longtext", "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "date", "time", "datetime", "json",
    ];

    /// <summary>
    /// The type of an information_schema.COLUMNS row, or null for a type the sink never writes (ENUM, TIMESTAMP, a
    /// spatial type, an unsigned integer: a column someone made by hand).
    /// </summary>
    public static MySqlType? FromInformationSchema(string dataType, string columnType, long? charLength, long? precision, long? scale, long? fsp)
    {
        var name = dataType.ToLowerInvariant();
        if (!s_known.Contains(name) || columnType.Contains("unsigned", StringComparison.OrdinalIgnoreCase)) return null;
        return name switch
        {
            "varchar" or "char" or "binary" or "varbinary" => new MySqlType(name, charLength ?? 0),
            "decimal" => Decimal((int)(precision ?? 10), (int)(scale ?? 0)),
            "datetime" or "time" => new MySqlType(name, Precision: (int)(fsp ?? 0)),
            _ => new MySqlType(name),
        };
    }
}

/// <summary>How a column's MySQL type relates to the type a new schema maps to.</summary>
public enum TypeChange
{
    /// <summary>The same type: nothing to do.</summary>
    Same,
    /// <summary>The new type holds every value of the current one: MODIFY COLUMN loses nothing.</summary>
    Widen,
    /// <summary>Not a lossless change (narrowing, or another kind of value).</summary>
    Incompatible,
}

/// <summary>
/// The MySQL side of the events' type mapping (docs/events.md, "Type mapping", the MySQL column), which changes of a
/// column's type MySQL takes without losing a value, and how each field value becomes a MySQL parameter. The one place
/// that knows MySQL's types; the SQL it leads to runs on MariaDB 10.11 and Oracle MySQL 8.4/9 alike.
/// </summary>
public static class MySqlColumnTypes
{
    /// <summary>A text key column: 768 characters of utf8mb4 is InnoDB's 3072-byte index limit.</summary>
    public const int KeyTextLength = 768;

    /// <summary>
    /// Binary collation for text key columns: PostgreSQL's keys are case-sensitive, so 'Ada' and 'ada' are two rows.
    /// utf8mb4_bin is PAD SPACE on both servers (keys that differ only in trailing spaces meet); MySQL 8's NO PAD
    /// utf8mb4_0900_bin and MariaDB's utf8mb4_nopad_bin have no common name.
    /// </summary>
    public const string KeyCollation = "utf8mb4_bin";

    /// <summary>The MySQL column type of a field (its key flag decides between LONGTEXT and an indexable VARCHAR).</summary>
    public static MySqlType For(FieldSchema field) => field.Kind switch
    {
        ValueKind.Boolean => MySqlType.Boolean,
        ValueKind.Int16 => MySqlType.SmallInt,
        ValueKind.Int32 => MySqlType.Int,
        ValueKind.Int64 => MySqlType.BigInt,
        ValueKind.Float32 => MySqlType.Float,
        ValueKind.Float64 => MySqlType.Double,
        // DECIMAL holds at most 65 digits and 30 decimals (and no negative scale, nor a scale above the precision, which
        // PostgreSQL 15 allows): beyond that the exact text.
        ValueKind.Decimal when field.Length is int p && field.Scale is int s && p is >= 1 and <= 65 && s is >= 0 and <= 30 && s <= p =>
            MySqlType.Decimal(p, s),
        ValueKind.Decimal => Text(field),
        ValueKind.Bytes => field.IsKey ? MySqlType.VarBinary(3072) : MySqlType.LongBlob,
        ValueKind.Date => MySqlType.Date,
        ValueKind.Time => MySqlType.Time,
        ValueKind.Timestamp or ValueKind.TimestampTz => MySqlType.DateTime,
        ValueKind.Uuid => MySqlType.Char(36),
        ValueKind.Json or ValueKind.Array => field.IsKey ? MySqlType.VarChar(KeyTextLength) : MySqlType.Json,
        _ => field.LogicalName switch
        {
            LogicalTypes.Interval => MySqlType.VarChar(64),
            LogicalTypes.ZonedTime => MySqlType.VarChar(32),
            LogicalTypes.Enum => MySqlType.VarChar(255),
            _ when field.SourceType == "CHAR" => MySqlType.VarChar(1), // PostgreSQL's one-byte "char"
            _ when field.Length is int n && n is >= 1 and <= 255 => MySqlType.VarChar(n),
            _ => Text(field),
        },
    };

    private static MySqlType Text(FieldSchema field) => field.IsKey ? MySqlType.VarChar(KeyTextLength) : MySqlType.LongText;

    /// <summary>
    /// Whether <paramref name="current"/> can become <paramref name="wanted"/> by MODIFY COLUMN without losing or
    /// changing a value: SMALLINT -> INT -> BIGINT, FLOAT -> DOUBLE, VARCHAR(n) -> VARCHAR(m >= n), DECIMAL(p,s) ->
    /// DECIMAL(p',s') with s' >= s and p'-s' >= p-s, an integer -> a DECIMAL with room for its digits, DATE -> DATETIME,
    /// a blob -> LONGBLOB, and numbers, dates, times and text -> LONGTEXT. Everything else (any narrowing, text -> a
    /// number, a boolean -> anything) is <see cref="TypeChange.Incompatible"/>.
    /// </summary>
    public static TypeChange Compare(MySqlType current, MySqlType wanted)
    {
        if (current == wanted) return TypeChange.Same;
        return IsLosslessWidening(current, wanted) ? TypeChange.Widen : TypeChange.Incompatible;
    }

    private static bool IsLosslessWidening(MySqlType from, MySqlType to) => (from.Name, to.Name) switch
    {
        (_, "longtext") => IsNumber(from) || from.Name is "date" or "datetime" or "time" or "json" || from.IsText,
        (_, "decimal") when IntegerDigits(from) > 0 => to.Precision - to.Scale >= IntegerDigits(from),
        ("decimal", "decimal") => to.Scale >= from.Scale && to.Precision - to.Scale >= from.Precision - from.Scale,
        _ when IntegerDigits(from) > 0 && IntegerDigits(to) > 0 => IntegerDigits(to) > IntegerDigits(from),
        ("float", "double") => true,
        ("varchar" or "char", "varchar") => to.Length >= from.Length,
        ("date", "datetime") => true,
        ("datetime", "datetime") or ("time", "time") => to.Precision >= from.Precision,
        ("tinyblob" or "blob" or "mediumblob" or "varbinary" or "binary", "longblob") => true,
        _ => false,
    };

    private static bool IsNumber(MySqlType t) => IntegerDigits(t) > 0 || t.Name is "decimal" or "float" or "double";

    /// <summary>Decimal digits of a signed integer type; 0 for anything else (tinyint is the sink's BOOLEAN, not a number).</summary>
    private static int IntegerDigits(MySqlType t) => t.Name switch
    {
        "smallint" => 5,
        "mediumint" => 7,
        "int" => 10,
        "bigint" => 19,
        _ => 0,
    };

    /// <summary>
    /// A field's default as a MySQL literal for ADD COLUMN ... DEFAULT, or null when MySQL cannot hold it as a literal
    /// default: TEXT, BLOB and JSON columns take only expression defaults on MySQL 8 (MariaDB takes literals), so for
    /// them the sink fills the rows that exist with an UPDATE instead (<see cref="ToMySql"/> gives its parameter).
    /// </summary>
    public static string? DefaultLiteral(FieldSchema field, MySqlType type)
    {
        if (field.Default is not { } value || type.Name is "longtext" or "json" or "longblob" or "varbinary") return null;
        object mysql;
        try
        {
            mysql = ToMySql(field, value);
        }
        catch (InvalidRecordException)
        {
            return null;
        }
        return mysql switch
        {
            bool b => b ? "TRUE" : "FALSE",
            short or int or long => Convert.ToString(mysql, CultureInfo.InvariantCulture),
            float f => f.ToString("R", CultureInfo.InvariantCulture),
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            System.DateTime t => Quote(t.ToString(type.Name == "date" ? "yyyy-MM-dd" : "yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture)),
            TimeSpan t => Quote(string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours:00}:{t:mm\\:ss\\.ffffff}")), // 24:00:00 too
            string s => Quote(s),
            _ => null,
        };

        // The session runs without NO_BACKSLASH_ESCAPES (the writers set sql_mode), so MySqlHelper's escaping holds.
        static string Quote(string text) => "'" + MySqlConnector.MySqlHelper.EscapeString(text) + "'";
    }

    /// <summary>
    /// A field's value (its <see cref="ValueKind"/>'s .NET representation, not null) as the MySQL parameter: exact
    /// decimal text, UUID text, JSON text for arrays, DATE and DATETIME(6) as <see cref="System.DateTime"/> (timestamptz
    /// in UTC), TIME(6) as <see cref="TimeSpan"/>. A value MySQL's type cannot hold (NaN, a date outside .NET's years
    /// 1-9999) throws <see cref="InvalidRecordException"/> naming the field, never the value.
    /// </summary>
    public static object ToMySql(FieldSchema field, object value)
    {
        try
        {
            return field.Kind switch
            {
                ValueKind.Float32 when !float.IsFinite((float)value) => throw NotHeld(field, "is not a finite number, which MySQL's FLOAT cannot hold"),
                ValueKind.Float64 when !double.IsFinite((double)value) => throw NotHeld(field, "is not a finite number, which MySQL's DOUBLE cannot hold"),
                ValueKind.Decimal => ((DecimalValue)value).ToString(),
                ValueKind.Uuid => ((Guid)value).ToString("D"),
                ValueKind.Date => ConnectValueJson.ToDate((int)value).ToDateTime(TimeOnly.MinValue),
                ValueKind.Time => TimeSpan.FromTicks((long)value * 10),
                ValueKind.Timestamp or ValueKind.TimestampTz => ConnectValueJson.ToDateTime((long)value),
                ValueKind.Array => JsonText(field, value),
                _ => value,
            };
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or OverflowException)
        {
            throw NotHeld(field, "is outside the range of dates and times the sink can write");
        }
        catch (InvalidCastException)
        {
            throw NotHeld(field, $"does not hold a {field.Kind} value");
        }
    }

    // The array as Connect writes it, text unescaped (MySQL keeps the text of a JSON document: "Zoë", not "Zo\u00EB").
    private static string JsonText(FieldSchema field, object value)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new System.Text.Json.Utf8JsonWriter(buffer, new System.Text.Json.JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            ConnectValueJson.Write(w, field, value);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static InvalidRecordException NotHeld(FieldSchema field, string problem) =>
        new($"field '{field.Name}' ({For(field)}) {problem}");
}
