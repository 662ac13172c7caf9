using KafkaPipeline.Shared;
using Npgsql;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>A table the source is asked to capture, as PostgreSQL knows it now.</summary>
/// <param name="Listed">As Pipeline:Tables names it.</param>
/// <param name="Schema">The schema it resolved to (the search path's for an unqualified name); null while it does not exist.</param>
/// <param name="Topic">Where its changes go ({TopicPrefix}{TABLE}).</param>
/// <param name="KeyProblem">Why it cannot be captured: no primary key, no replica identity index and not REPLICA IDENTITY FULL.</param>
public sealed record CapturedTableInfo(TableName Listed, string? Schema, string Topic, string? KeyProblem)
{
    public bool Exists => Schema is not null;

    /// <summary>schema.table, as the events' source.table header says.</summary>
    public string QualifiedName => $"{Schema ?? Listed.Schema ?? "public"}.{Listed.Name}";
}

/// <summary>The tables the source captures (Source:Tables, from Pipeline:Tables) and what the catalog says of each.</summary>
public sealed class CaptureSet(SourceOptions options)
{
    private readonly IReadOnlyList<TableName> _listed = options.TableList;
    private IReadOnlyList<CapturedTableInfo> _tables = [];

    public IReadOnlyList<CapturedTableInfo> Tables => _tables;

    public IEnumerable<CapturedTableInfo> Capturable => _tables.Where(t => t.Exists && t.KeyProblem is null);

    public IEnumerable<string> Topics => _listed.Select(t => t.Topic(options.TopicPrefix)).Distinct();

    /// <summary>The captured table a relation (schema, name) is, or null when it is not listed.</summary>
    public CapturedTableInfo? Find(string schema, string name) =>
        _tables.FirstOrDefault(t => t.Exists && t.Schema == schema && t.Listed.Name == name);

    public async Task RefreshAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        var tables = new List<CapturedTableInfo>();
        foreach (var listed in _listed)
        {
            var resolved = await TableCatalog.ResolveAsync(conn, listed.ToString(), ct);
            string? problem = null;
            if (resolved is { } r && !await HasKeyAsync(conn, r.Schema, r.Table, ct))
                problem = $"table {r.Schema}.{r.Table} has no primary key, no replica identity index and is not REPLICA IDENTITY FULL, " +
                          "so its changes cannot be told apart by key. Fix: ALTER TABLE ... ADD PRIMARY KEY (...), or " +
                          $"ALTER TABLE {r.Schema}.{r.Table} REPLICA IDENTITY FULL (then every column is the key), or remove it from Pipeline:Tables.";
            tables.Add(new CapturedTableInfo(listed, resolved?.Schema, listed.Topic(options.TopicPrefix), problem));
        }
        _tables = tables;
    }

    private static async Task<bool> HasKeyAsync(NpgsqlConnection conn, string schema, string table, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT c.relreplident = 'f' OR EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND (i.indisprimary OR i.indisreplident))
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = @schema AND c.relname = @table
            """, conn);
        cmd.Parameters.AddWithValue("schema", schema);
        cmd.Parameters.AddWithValue("table", table);
        return await cmd.ExecuteScalarAsync(ct) is true;
    }
}
