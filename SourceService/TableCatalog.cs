using Npgsql;

namespace KafkaPipeline.SourceService;

/// <summary>What the source reads about a table from PostgreSQL's catalog (on a given connection, so a snapshot sees its own).</summary>
public static class TableCatalog
{
    /// <summary>The schema and name of <paramref name="table"/> (a plain name resolves by search_path), or null when it does not exist.</summary>
    public static async Task<(string Schema, string Table)?> ResolveAsync(NpgsqlConnection conn, string table, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(@t)
            """, conn);
        cmd.Parameters.AddWithValue("t", table);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? (r.GetString(0), r.GetString(1)) : null;
    }

    /// <summary>The table's columns in order (not dropped ones); empty when the table does not exist.</summary>
    public static async Task<IReadOnlyList<SourceColumn>> ColumnsAsync(NpgsqlConnection conn, string schema, string table, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT a.attname, a.atttypid, a.atttypmod FROM pg_attribute a
            WHERE a.attrelid = to_regclass(quote_ident(@schema) || '.' || quote_ident(@table)) AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """, conn);
        cmd.Parameters.AddWithValue("schema", schema);
        cmd.Parameters.AddWithValue("table", table);
        var columns = new List<SourceColumn>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) columns.Add(new SourceColumn(r.GetString(0), r.GetFieldValue<uint>(1), r.GetInt32(2)));
        return columns;
    }

    /// <summary>
    /// The key (the primary key's columns; without one, the replica identity index's; without either, under REPLICA
    /// IDENTITY FULL, every column) and the values rows written before
    /// a column existed have (a column added with a default: pg_attribute.attmissingval).
    /// </summary>
    public static async Task<TableDetails> DetailsAsync(NpgsqlConnection conn, string schema, string table, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            WITH t AS (SELECT to_regclass(quote_ident(@schema) || '.' || quote_ident(@table)) AS oid),
                 k AS (SELECT i.indkey::int2[] AS cols FROM pg_index i JOIN t ON i.indrelid = t.oid
                       WHERE i.indisprimary OR i.indisreplident ORDER BY i.indisprimary DESC LIMIT 1)
            SELECT a.attname, a.attnum = ANY (COALESCE((SELECT cols FROM k), '{}'::int2[])),
                   CASE WHEN a.atthasmissing THEN array_send(a.attmissingval) END,
                   (SELECT c.relreplident = 'f' FROM pg_class c WHERE c.oid = t.oid)
            FROM pg_attribute a JOIN t ON a.attrelid = t.oid WHERE a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
            """, conn);
        cmd.Parameters.AddWithValue("schema", schema);
        cmd.Parameters.AddWithValue("table", table);
        var keys = new List<string>();
        var missing = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var columns = new List<string>();
        var full = false;
        while (await r.ReadAsync(ct))
        {
            columns.Add(r.GetString(0));
            if (r.GetBoolean(1)) keys.Add(r.GetString(0));
            if (!r.IsDBNull(2)) missing[r.GetString(0)] = r.GetFieldValue<byte[]>(2);
            full = r.GetBoolean(3);
        }
        // Neither a primary key nor a replica identity index, but REPLICA IDENTITY FULL: the whole row is the key.
        return new TableDetails(keys.Count == 0 && full ? columns : keys, missing);
    }
}
