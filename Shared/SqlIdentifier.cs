using System.Text.RegularExpressions;

namespace KafkaPipeline.Shared;

/// <summary>
/// Table and column names come from configuration, so they cannot be SQL parameters: they are checked against a
/// strict pattern (letters, digits, underscore; 1-63 chars) and then quoted for the dialect.
/// </summary>
public static partial class SqlIdentifier
{
    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    private static partial Regex Valid();

    public static bool IsValid(string? name) => name is not null && Valid().IsMatch(name);

    /// <summary>Throws naming <paramref name="setting"/> when <paramref name="name"/> is not a plain identifier.</summary>
    public static string Require(string? name, string setting) =>
        IsValid(name) ? name! : throw new ArgumentException(
            $"{setting} '{name}' is not a valid identifier: use 1-63 letters, digits or '_', not starting with a digit.", setting);

    public static string QuotePostgres(string name) => "\"" + Require(name, "identifier") + "\"";

    public static string QuoteMySql(string name) => "`" + Require(name, "identifier") + "`";
}
