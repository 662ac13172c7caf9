using System.Globalization;
using System.Text.RegularExpressions;
using DuckDB.NET.Data;
using KafkaPipeline.S3SinkService;

namespace KafkaPipeline.Lake;

/// <summary>What --as-of restricts the lake to: events committed at or before a time, or at or before a commit LSN.</summary>
public sealed partial record AsOf(DateTimeOffset? Time, ulong? Lsn)
{
    /// <summary>A PostgreSQL LSN ("0/16B3748") or a timestamp (ISO-8601; without an offset it is UTC).</summary>
    public static AsOf Parse(string text)
    {
        if (LsnPattern().IsMatch(text))
        {
            var parts = text.Split('/');
            return new AsOf(null, (ulong.Parse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture) << 32)
                + ulong.Parse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        }
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)) return new AsOf(time, null);
        throw new ArgumentException($"--as-of '{text}' is neither a timestamp (2026-12-02T08:00:00Z) nor an LSN (0/16B3748)");
    }

    public string Condition => Lsn is { } lsn
        ? string.Create(CultureInfo.InvariantCulture, $"lake_lsn(__commit_lsn) <= {lsn}")
        : string.Create(CultureInfo.InvariantCulture, $"TRY_CAST(__commit_ts AS TIMESTAMPTZ) <= TIMESTAMPTZ '{Time!.Value.UtcDateTime:yyyy-MM-dd HH:mm:ss.ffffff}+00'");

    [GeneratedRegex("^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")]
    private static partial Regex LsnPattern();
}

/// <summary>
/// The lake in DuckDB: per topic the views <c>&lt;table&gt;_changes</c> (every event of both formats, in commit order)
/// and <c>&lt;table&gt;</c> (the latest version of each key, deletes applied), over the cached objects. Each object is
/// checked once (the result is kept beside it in the cache); a corrupt or foreign one is reported and left out.
/// </summary>
public sealed class LakeViews(DuckDBConnection db, TextWriter messages)
{
    private const string CheckedSuffix = ".checked";

    /// <summary>The names of the views defined, per topic.</summary>
    public Dictionary<string, string> Tables { get; } = new(StringComparer.Ordinal);

    public void Define(IReadOnlyList<CachedObject> objects, AsOf? asOf)
    {
        Execute("SET TimeZone = 'UTC'");
        // Parquet.Net 6.1 writes the min/max statistics of timestamp columns in milliseconds while the values are in
        // microseconds: DuckDB would skip row groups (or drop filters) by those statistics and answer wrongly, so it
        // must not use them. The lake is small enough to be scanned in full.
        Execute("SET disabled_optimizers = 'filter_pushdown,statistics_propagation'");
        // A PostgreSQL LSN "hi/lo" (hex) as a number that orders like the LSN.
        Execute("CREATE OR REPLACE MACRO lake_lsn(l) AS CASE WHEN l IS NULL THEN NULL ELSE " +
                "(CAST('0x' || split_part(l, '/', 1) AS UBIGINT) << 32) + CAST('0x' || split_part(l, '/', 2) AS UBIGINT) END");
        Execute("CREATE OR REPLACE MACRO lake_epoch(e) AS TRY_CAST(split_part(e, ':', 1) AS BIGINT)");
        foreach (var topic in objects.Where(Usable).GroupBy(o => o.Parsed.Topic).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var json = topic.Where(o => o.Parsed.Format == LakeFormat.Json).Select(o => Literal(o.Path)).ToList();
            var parquet = topic.Where(o => o.Parsed.Format == LakeFormat.Parquet).Select(o => Literal(o.Path)).ToList();
            var parts = new List<string>();
            if (json.Count > 0) parts.Add($"SELECT * FROM read_json([{string.Join(", ", json)}], format = 'newline_delimited', union_by_name = true, hive_partitioning = false)");
            // __unchanged is a JSON array in the lines and its text in Parquet: one list type for both.
            if (parquet.Count > 0)
                parts.Add($"SELECT * REPLACE (from_json(__unchanged, '[\"VARCHAR\"]') AS __unchanged) FROM read_parquet([{string.Join(", ", parquet)}], union_by_name = true, hive_partitioning = false)");
            var events = Identifier(topic.Key + "__events");
            Execute($"CREATE OR REPLACE VIEW {events} AS {string.Join(" UNION ALL BY NAME ", parts)}");
            var table = TableName(topic.Key, events);
            Tables[topic.Key] = table;
            const string Order = "lake_epoch(__epoch) {0}, lake_lsn(__commit_lsn) {0}, lake_lsn(__change_lsn) {0}, __kafka_partition {1}, __kafka_offset {1}";
            var where = asOf is null ? "" : $"WHERE {asOf.Condition}";
            Execute($"CREATE OR REPLACE VIEW {Identifier(table + "_changes")} AS SELECT * FROM {events} {where} " +
                    $"ORDER BY {string.Format(CultureInfo.InvariantCulture, Order, "NULLS FIRST", "")}");
            // The latest version of each key (a key stays on its partition; across epochs and partitions the commit order
            // decides), then deletes dropped.
            Execute($"CREATE OR REPLACE VIEW {Identifier(table)} AS SELECT COLUMNS(c -> NOT starts_with(c, '__')) FROM {Identifier(table + "_changes")} " +
                    $"QUALIFY row_number() OVER (PARTITION BY __key ORDER BY {string.Format(CultureInfo.InvariantCulture, Order, "DESC NULLS LAST", "DESC")}) = 1 " +
                    "AND CAST(__deleted AS VARCHAR) <> 'true'");
        }
    }

    /// <summary>The table the topic's events name (public.users: users), else the topic's name in lower case.</summary>
    private string TableName(string topic, string events)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = $"SELECT DISTINCT __table FROM {events} WHERE __table IS NOT NULL LIMIT 2";
        var names = new List<string>();
        using (var reader = cmd.ExecuteReader())
        {
            while (reader.Read()) names.Add(reader.GetString(0));
        }
        var name = names.Count == 1 ? names[0][(names[0].LastIndexOf('.') + 1)..] : topic.ToLowerInvariant();
        return Tables.ContainsValue(name) ? topic.ToLowerInvariant() : name;
    }

    /// <summary>Checks an object once: it must be a readable file of its format with the lake's metadata columns.</summary>
    private bool Usable(CachedObject o)
    {
        var marker = o.Path + CheckedSuffix;
        string verdict;
        if (File.Exists(marker)) verdict = File.ReadAllText(marker);
        else
        {
            verdict = Check(o);
            File.WriteAllText(marker, verdict);
        }
        if (verdict == "ok") return true;
        messages.WriteLine($"lake: skipped {o.Key}: {verdict}");
        return false;
    }

    private string Check(CachedObject o)
    {
        var source = o.Parsed.Format == LakeFormat.Parquet
            ? $"read_parquet({Literal(o.Path)}, hive_partitioning = false)"
            : $"read_json({Literal(o.Path)}, format = 'newline_delimited', hive_partitioning = false)";
        try
        {
            using var cmd = db.CreateCommand();
            cmd.CommandText = $"SELECT count(*), count(__kafka_offset), count(__key), count(DISTINCT __kafka_partition), min(__kafka_partition) FROM {source}";
            using var reader = cmd.ExecuteReader();
            reader.Read();
            var rows = reader.GetInt64(0);
            if (rows != reader.GetInt64(1) || rows != reader.GetInt64(2)) return "not a lake object: some rows lack __kafka_offset or __key";
            if (rows > 0 && (reader.GetInt64(3) != 1 || Convert.ToInt64(reader.GetValue(4), CultureInfo.InvariantCulture) != o.Parsed.Partition))
                return "not a lake object: its rows are not of the partition its key names";
            return "ok";
        }
        catch (DuckDBException e)
        {
            // The problem (a parse position, a missing column): DuckDB's first line, kept short.
            var first = e.Message.Split('\n')[0].Replace(o.Path, "the object", StringComparison.Ordinal);
            if (first.Length > 200) first = first[..200] + "...";
            return $"not readable as {(o.Parsed.Format == LakeFormat.Parquet ? "Parquet" : "JSON lines")} ({first})";
        }
    }

    private void Execute(string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static string Literal(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    public static string Identifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
