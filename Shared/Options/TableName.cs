namespace KafkaPipeline.Shared;

/// <summary>A table the pipeline carries: its schema (null: the search path's, normally public) and name.</summary>
public sealed record TableName(string? Schema, string Name)
{
    /// <summary>"schema.table" or "table": plain identifiers (letters, digits, '_'), as every name from configuration.</summary>
    public static bool TryParse(string text, out TableName? table)
    {
        table = null;
        var parts = text.Trim().Split('.');
        if (parts.Length > 2 || parts.Any(p => !SqlIdentifier.IsValid(p))) return false;
        table = parts.Length == 2 ? new TableName(parts[0], parts[1]) : new TableName(null, parts[0]);
        return true;
    }

    /// <summary>The topic of the table's changes: {prefix}{TABLE}, or {prefix}{SCHEMA}_{TABLE} outside public (P_USERS).</summary>
    public string Topic(string prefix) =>
        TopicNames.ForTable(prefix, Schema is null or "public" ? Name : $"{Schema}_{Name}");

    /// <summary>True for the same table, a missing schema meaning public.</summary>
    public bool Is(string schema, string name) => (Schema ?? "public") == schema && Name == name;

    public override string ToString() => Schema is null ? Name : $"{Schema}.{Name}";
}
