using System.Text.RegularExpressions;

namespace KafkaPipeline.Shared;

/// <summary>
/// Table and column names come from configuration, so they cannot be SQL parameters: they are checked against a
/// strict pattern (letters, digits, underscore; 1-63 chars) and then quoted for the dialect.
/// </summary>
public static partial class SqlIdentifier
{
    /// <summary>PostgreSQL keeps 63 bytes of a name (NAMEDATALEN - 1) and cuts longer ones silently.</summary>
    public const int MaxLength = 63;

    // \A and \z, not ^ and $: '$' also matches before a final newline, so "users\n" would pass.
    [GeneratedRegex(@"\A[A-Za-z_][A-Za-z0-9_]{0,62}\z")]
    private static partial Regex Valid();

    public static bool IsValid(string? name) => name is not null && Valid().IsMatch(name);

    /// <summary>Throws naming <paramref name="setting"/> when <paramref name="name"/> is not a plain identifier.</summary>
    public static string Require(string? name, string setting) =>
        IsValid(name) ? name! : throw new ArgumentException(
            $"{setting} '{name}' is not a valid identifier: use 1-63 letters, digits or '_', not starting with a digit.", setting);

    /// <summary>
    /// A name built from a configured one (e.g. "{table}_updated_at_id"): valid only if it still fits in 63 bytes, since
    /// PostgreSQL would otherwise cut it and two derived names could become one.
    /// </summary>
    public static string RequireDerived(string derived, string setting) =>
        IsValid(derived) ? derived : throw new ArgumentException(
            $"{setting} is too long: the name derived from it, '{derived}' ({derived.Length} bytes), exceeds PostgreSQL's {MaxLength}-byte limit. Use a shorter name.",
            setting);

    public static string QuotePostgres(string name) => "\"" + Require(name, "identifier") + "\"";

    public static string QuoteMySql(string name) => "`" + Require(name, "identifier") + "`";
}
