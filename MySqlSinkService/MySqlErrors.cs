using System.Globalization;
using System.Text.RegularExpressions;
using KafkaPipeline.Shared;
using MySqlConnector;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>
/// What the sink makes of MySQL's errors: which are caused by a record's data (that record is dead-lettered, the rest
/// written), which mean MySQL refuses a schema change (the table stops), and a text for each that names the error and
/// the column but never a value: MySQL's own messages quote values ("Duplicate entry '42' for key 'PRIMARY'").
/// </summary>
public static partial class MySqlErrors
{
    private static readonly Dictionary<int, (string Symbol, string Meaning)> s_dataErrors = new()
    {
        [1048] = ("ER_BAD_NULL_ERROR", "the column does not allow NULL"),
        [1062] = ("ER_DUP_ENTRY", "a row with this key exists already"),
        [1264] = ("ER_WARN_DATA_OUT_OF_RANGE", "the value is outside the column's range"),
        [1265] = ("WARN_DATA_TRUNCATED", "the value does not fit the column"),
        [1292] = ("ER_TRUNCATED_WRONG_VALUE", "the value is not one the column's type holds (e.g. a date MySQL cannot hold)"),
        [1300] = ("ER_INVALID_CHARACTER_STRING", "the text is not valid in the column's character set"),
        [1366] = ("ER_TRUNCATED_WRONG_VALUE_FOR_FIELD", "the value is not one the column's type holds"),
        [1367] = ("ER_ILLEGAL_VALUE_FOR_TYPE", "the value is not one the column's type holds"),
        [1406] = ("ER_DATA_TOO_LONG", "the value is too long for the column"),
        [1411] = ("ER_WRONG_VALUE_FOR_TYPE", "the value is not one the column's type holds"),
        [1452] = ("ER_NO_REFERENCED_ROW_2", "a foreign key of the table refuses the row"),
        [1690] = ("ER_DATA_OUT_OF_RANGE", "the value is outside the column's range"),
        [3140] = ("ER_INVALID_JSON_TEXT", "the text is not a valid JSON document"),       // Oracle MySQL's JSON
        [3819] = ("ER_CHECK_CONSTRAINT_VIOLATED", "a CHECK constraint refuses the row"),  // Oracle MySQL
        [4025] = ("ER_CONSTRAINT_FAILED", "a CHECK constraint refuses the row"),          // MariaDB (also its JSON's json_valid)
    };

    /// <summary>Errors of a schema change that retrying cannot fix: the table stops and the message says what MySQL refused.</summary>
    private static readonly HashSet<int> s_ddlRefusals =
    [
        1059, // ER_TOO_LONG_IDENT
        1064, // ER_PARSE_ERROR
        1067, // ER_INVALID_DEFAULT
        1071, // ER_TOO_LONG_KEY
        1074, // ER_TOO_BIG_FIELDLENGTH
        1101, // ER_BLOB_CANT_HAVE_DEFAULT
        1117, // ER_TOO_MANY_FIELDS
        1118, // ER_TOO_BIG_ROWSIZE
        1142, // ER_TABLEACCESS_DENIED_ERROR (no ALTER or CREATE privilege)
        1166, // ER_WRONG_COLUMN_NAME
        1170, // ER_BLOB_KEY_WITHOUT_LENGTH
        1253, // ER_COLLATION_CHARSET_MISMATCH
        1273, // ER_UNKNOWN_COLLATION
        1846, // ER_ALTER_OPERATION_NOT_SUPPORTED_REASON
    ];

    public static bool IsDataError(Exception e) => e is MySqlException m && s_dataErrors.ContainsKey(m.Number);

    /// <summary>MySQL refuses a schema change for good (also a data error while converting a column's values).</summary>
    public static bool IsDdlRefusal(Exception e) => e is MySqlException m && (s_ddlRefusals.Contains(m.Number) || s_dataErrors.ContainsKey(m.Number));

    /// <summary>
    /// "MySQL error 1406 (ER_DATA_TOO_LONG) for column 'name': the value is too long for the column". The column (or
    /// key) is named only when MySQL's message names one that <paramref name="isName"/> knows; no value is copied.
    /// </summary>
    public static string Describe(MySqlException e, Func<string, bool> isName)
    {
        var (symbol, meaning) = s_dataErrors.TryGetValue(e.Number, out var known) ? known : (e.ErrorCode.ToString(), "MySQL refused the statement");
        var name = NameIn(e.Message, isName);
        return string.Create(CultureInfo.InvariantCulture, $"MySQL error {e.Number} ({symbol}){(name is null ? "" : $" for {name}")}: {meaning}");
    }

    // "... for column 'c' at row 1", "... for column `db`.`t`.`c` at row 1", "Column 'c' cannot be null",
    // "CONSTRAINT `c` failed for ...", "... for key 'PRIMARY'" / "for key 't.PRIMARY'" (MySQL 8 names the table).
    [GeneratedRegex(@"(?:for column|^Column|CONSTRAINT) (?:[`'][^`']*[`']\.)*[`']([^`']+)[`']|for key '(?:[^'.]+\.)?([^'.]+)'\z")]
    private static partial Regex NamePattern();

    private static string? NameIn(string message, Func<string, bool> isName)
    {
        var m = NamePattern().Match(message);
        if (!m.Success) return null;
        var isKey = m.Groups[2].Success;
        var name = isKey ? m.Groups[2].Value : m.Groups[1].Value;
        if (!SqlIdentifier.IsValid(name) || !(isName(name) || (isKey && name == "PRIMARY"))) return null;
        return isKey ? $"key '{name}'" : $"column '{name}'";
    }
}

/// <summary>A record MySQL refused for its data; the message names the error and column, never the value.</summary>
public sealed class MySqlDataException(string message, int number) : Exception(message)
{
    /// <summary>MySQL's error number.</summary>
    public int Number { get; } = number;
}
