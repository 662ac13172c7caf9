namespace KafkaPipeline.Shared;

/// <summary>
/// Settings "Pipeline:*" that every service shares: which tables the pipeline carries. The AppHost hands them to every
/// service that needs them, so `./run.sh --Pipeline:Tables=users,orders` is all a user types.
/// </summary>
public sealed class PipelineOptions : IValidatedOptions
{
    public const string Section = "Pipeline";

    /// <summary>Comma-separated tables, "schema.table" or "table" (default users); each goes to its own topic.</summary>
    public string Tables { get; set; } = "users";

    public IReadOnlyList<TableName> TableList =>
        [.. Tables.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(t => TableName.TryParse(t, out var name) ? name! : throw new InvalidOperationException($"Pipeline:Tables: '{t}' is not a table name"))];

    public IEnumerable<string> Validate(string section)
    {
        var entries = (Tables ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (entries.Length == 0) yield return $"{section}:Tables must list at least one table (e.g. users or users,orders).";
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            if (!TableName.TryParse(entry, out var table))
                yield return $"{section}:Tables: '{entry}' is not a table name: use table or schema.table, each a plain identifier (letters, digits, '_').";
            else if (!seen.Add(table!.Topic("")))
                yield return $"{section}:Tables lists '{entry}' twice (or two tables that would share the topic {table.Topic("")}).";
        }
    }
}
