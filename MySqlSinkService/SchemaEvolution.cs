using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>What the sink does with a MySQL column that a newer schema of the source no longer has.</summary>
public enum ColumnDropPolicy
{
    /// <summary>MySQL keeps the column; versions written after the drop hold NULL in it.</summary>
    Keep,
    /// <summary>ALTER TABLE ... DROP COLUMN, for the first record newer than the column's last change that lacks it.</summary>
    Drop,
}

/// <summary>One schema change to run before a batch is written (outside its transaction: MySQL commits at DDL).</summary>
/// <param name="What">For the log: "added column x BIGINT".</param>
/// <param name="Fill">An UPDATE giving the rows that exist a default MySQL cannot hold as a literal, with its value.</param>
public sealed record SchemaDdl(string What, IReadOnlyList<string> Sql, IReadOnlyList<(string Column, ColumnDecision Decision)> Decisions,
    (string Sql, object Value)? Fill = null);

/// <summary>The changes a batch's schemas ask of a table, and the schemas whose records the table cannot take (with why and the fix).</summary>
public sealed class SchemaPlan
{
    public List<SchemaDdl> Ddl { get; } = [];
    public Dictionary<TableSchema, string> Problems { get; } = new(ReferenceEqualityComparer.Instance);
}

/// <summary>
/// Compares the schemas of a batch with the MySQL table and plans what MySQL must change before the batch is written:
/// create the table from the first schema, add the columns a schema brings (nullable, with the field's default when it
/// has one), widen a column when the new type holds every old value, drop a column a newer schema lacks (under
/// <see cref="ColumnDropPolicy.Drop"/>). A change MySQL cannot take without losing values, a name MySQL cannot have,
/// a changed key: a problem, and the table stops (<see cref="MySqlSinkTask"/>). Columns excluded by MySqlSink:
/// ExcludeColumns are never created, changed or written. Versions decide between schemas of lagging partitions:
/// see <see cref="SchemaChanges"/>.
/// </summary>
public sealed class SchemaEvolution(MirrorTable table, IReadOnlySet<string> excluded, ColumnDropPolicy onDropped)
{
    private const string Restart = "then restart the MySQL sink.";

    /// <param name="schemas">Each distinct schema of the batch's rows with its newest record's version, oldest first.</param>
    public SchemaPlan Plan(TableLayout? layout, IReadOnlyDictionary<string, ColumnDecision> decisions, IReadOnlyList<(TableSchema Schema, RecordVersion Newest)> schemas)
    {
        var plan = new SchemaPlan();
        foreach (var (schema, _) in schemas)
        {
            if (NameProblem(schema) is { } problem) plan.Problems[schema] = problem;
        }
        var good = schemas.Where(s => !plan.Problems.ContainsKey(s.Schema)).ToList();
        if (good.Count == 0) return plan;
        if (layout is null)
        {
            plan.Ddl.Add(Create(good[^1].Schema, good[^1].Newest));
            return plan;
        }
        if (UnwritableColumn(layout) is { } tableProblem)
        {
            foreach (var (schema, _) in good) plan.Problems[schema] = tableProblem;
            return plan;
        }

        var modified = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (schema, newest) in good)
        {
            var problem = KeyProblem(schema, layout);
            foreach (var field in Mirrored(schema))
            {
                if (problem is not null) break;
                if (layout.Column(field.Name) is { } column) // else added below
                    problem = TypeStep(column, field, newest, decisions.GetValueOrDefault(column.Name), plan, modified);
            }
            if (problem is not null) plan.Problems[schema] = problem;
        }
        // In keep mode a column the schema lacks is written NULL: none may refuse it.
        foreach (var column in layout.Columns)
        {
            if (!column.Nullable && column.Type is not null && IsData(column.Name, layout) && !modified.Contains(column.Name))
                plan.Ddl.Add(Modify(column, column.Type, "made nullable", decision: null));
        }
        Presence(layout, decisions, [.. good.Where(s => !plan.Problems.ContainsKey(s.Schema))], plan);
        return plan;
    }

    /// <summary>The fields the sink mirrors: the key and every field not excluded.</summary>
    public IEnumerable<FieldSchema> Mirrored(TableSchema schema) => schema.Fields.Where(f => f.IsKey || !excluded.Contains(f.Name));

    private string? NameProblem(TableSchema schema)
    {
        if (schema.KeyIndexes.Count == 0)
            return $"the source's schema of {Source(schema)} has no key column (the sink keys the table by the source's primary key). " +
                   $"Give the source table a primary key, {Restart}";
        var seen = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var field in Mirrored(schema))
        {
            if (!SqlIdentifier.IsValid(field.Name))
                return $"column '{Shorten(field.Name)}' of {Source(schema)} is not a name the sink can use in MySQL (1-63 letters, digits or '_', " +
                       $"not starting with a digit). Rename it in the source or leave it out with MySqlSink:ExcludeColumns, {Restart}";
            if (MirrorTable.IsReserved(field.Name, field.IsKey))
                return $"column '{field.Name}' of {Source(schema)} has the name of one of the sink's own columns " +
                       $"({string.Join(", ", MirrorTable.SinkColumns)}, {MirrorTable.RowColumn}, {MirrorTable.OpColumn}, {MirrorTable.UnchangedColumn}; " +
                       $"a key column also {MirrorTable.DeletedAt}). Rename it in the source or leave it out with MySqlSink:ExcludeColumns, {Restart}";
            if (!seen.TryAdd(field.Name, field.Name))
                return $"columns '{seen[field.Name]}' and '{field.Name}' of {Source(schema)} differ only in case, which MySQL's column names do not tell apart. " +
                       $"Rename one in the source or leave one out with MySqlSink:ExcludeColumns, {Restart}";
        }
        return null;
    }

    private string? KeyProblem(TableSchema schema, TableLayout layout)
    {
        var source = schema.KeyIndexes.Select(i => schema.Fields[i].Name).ToList();
        if (source.SequenceEqual(layout.Key, StringComparer.OrdinalIgnoreCase)) return null;
        return $"the key of {Source(schema)} is ({string.Join(", ", source)}) but the primary key of MySQL table {table.Name} is " +
               $"({string.Join(", ", layout.Key)}). Drop the MySQL tables {table.Name} and {table.DeletedName} to have them re-created " +
               $"and reset the group's offsets to read the topic again, {Restart}";
    }

    /// <summary>A column the sink does not write but MySQL demands a value for: every insert would fail.</summary>
    private string? UnwritableColumn(TableLayout layout)
    {
        foreach (var c in layout.Columns)
        {
            if (c.Nullable || c.HasDefault || layout.Key.Contains(c.Name, StringComparer.OrdinalIgnoreCase)
                || MirrorTable.IsReserved(c.Name, isKey: false) || (c.Type is not null && !excluded.Contains(c.Name))) continue;
            var why = c.Type is null ? $"its type {c.ColumnType} is not one the sink writes" : "MySqlSink:ExcludeColumns leaves it out";
            return $"MySQL column {c.Name} of table {table.Name} is NOT NULL without a default and the sink does not write it ({why}). " +
                   $"Give it a default or make it nullable (ALTER TABLE {table.Quoted} MODIFY `{c.Name}` {c.ColumnType} NULL), {Restart}";
        }
        return null;
    }

    /// <summary>Same type: nothing (or NOT NULL relaxed); a widening: MODIFY; anything else from a newer schema: a problem.</summary>
    private string? TypeStep(MySqlColumn column, FieldSchema field, RecordVersion newest, ColumnDecision? decision, SchemaPlan plan, HashSet<string> modified)
    {
        var wanted = MySqlColumnTypes.For(field);
        var isKey = field.IsKey;
        if (column.Type is null)
            return $"MySQL column {column.Name} of table {table.Name} has type {column.ColumnType}, which the sink does not write; the source sends " +
                   $"{wanted}. Change it by hand (ALTER TABLE {table.Quoted} MODIFY `{column.Name}` {wanted.Sql}) or drop it to have it re-created, {Restart}";
        // A schema older than the column's last change is a lagging partition's: its values fit or MySQL refuses them one by one.
        if (decision is not null && !newest.IsNewerThan(decision.Version)) return null;
        switch (MySqlColumnTypes.Compare(column.Type, wanted))
        {
            case TypeChange.Same:
                return null;
            case TypeChange.Widen when modified.Add(column.Name):
                plan.Ddl.Add(Modify(column, wanted, $"widened from {column.Type} to {wanted}", new ColumnDecision(true, wanted.Sql, newest), isKey));
                return null;
            case TypeChange.Widen:
                return null; // two schemas widen it in one batch: the newer one's MODIFY runs on the next pass
            default:
                return $"column {column.Name} is {column.Type} in MySQL table {table.Name} but the source now sends {wanted} " +
                       $"({field.SourceType ?? field.Kind.ToString()}), which MySQL cannot take without losing or changing values. Nothing more of " +
                       $"the table is written. Change the MySQL column by hand if every value fits (ALTER TABLE {table.Quoted} MODIFY `{column.Name}` " +
                       $"{(isKey ? MirrorTable.KeyType(wanted) + " NOT NULL" : wanted.Sql + " NULL")}), or drop it to have it re-created from the new type " +
                       $"(ALTER TABLE {table.Quoted} DROP COLUMN `{column.Name}`), {Restart}";
        }
    }

    private SchemaDdl Modify(MySqlColumn column, MySqlType type, string what, ColumnDecision? decision, bool isKey = false)
    {
        // Text stays in its collation (a key's is binary).
        var collation = type.IsText && column.Type is { IsText: true } ? column.Collation : null;
        var definition = isKey ? $"{MirrorTable.KeyType(type)} NOT NULL" : $"{type.Sql}{(collation is null ? "" : " COLLATE " + collation)} NULL";
        var name = SqlIdentifier.QuoteMySql(column.Name);
        List<string> sql = [$"ALTER TABLE {table.Quoted} MODIFY {name} {definition}"];
        if (isKey) sql.Add($"ALTER TABLE {table.QuotedDeleted} MODIFY {name} {definition}");
        return new SchemaDdl($"{what}: column {column.Name}", sql, decision is null ? [] : [(column.Name, decision)]);
    }

    /// <summary>
    /// Columns to add (a schema has one MySQL lacks) and, under <see cref="ColumnDropPolicy.Drop"/>, to drop (MySQL has
    /// one the newest schema of the batch that mentions it lacks). A column's last decision vetoes what an older record asks.
    /// </summary>
    private void Presence(TableLayout layout, IReadOnlyDictionary<string, ColumnDecision> decisions, List<(TableSchema Schema, RecordVersion Newest)> schemas, SchemaPlan plan)
    {
        if (schemas.Count == 0) return;
        var names = new List<string>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (schema, _) in schemas)
            foreach (var f in Mirrored(schema)) if (!f.IsKey && seen.Add(f.Name)) names.Add(f.Name);
        if (onDropped == ColumnDropPolicy.Drop)
            foreach (var c in layout.Columns) if (IsData(c.Name, layout) && c.Type is not null && seen.Add(c.Name)) names.Add(c.Name);

        foreach (var name in names)
        {
            (FieldSchema Field, RecordVersion Version)? has = null;
            RecordVersion? lacks = null;
            foreach (var (schema, newest) in schemas) // oldest first: the last one wins
            {
                if (schema.Fields.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase)) is { } field) has = (field, newest);
                else lacks = newest;
            }
            var decision = decisions.GetValueOrDefault(name);
            if (!layout.Has(name))
            {
                if (has is not { } h) continue;
                if (onDropped == ColumnDropPolicy.Drop && lacks is { } l && !h.Version.IsNewerThan(l)) continue;
                if (decision is { Present: false } && !h.Version.IsNewerThan(decision.Version)) continue; // a newer record dropped it
                plan.Ddl.Add(Add(h.Field, h.Version));
            }
            else if (onDropped == ColumnDropPolicy.Drop && lacks is { } l && (has is null || l.IsNewerThan(has.Value.Version))
                     && (decision is null || l.IsNewerThan(decision.Version)))
            {
                var column = layout.Column(name)!;
                plan.Ddl.Add(new SchemaDdl($"dropped column {column.Name} (the source's newer schema lacks it; MySqlSink:OnColumnDropped=drop)",
                    [$"ALTER TABLE {table.Quoted} DROP COLUMN {SqlIdentifier.QuoteMySql(column.Name)}"],
                    [(column.Name, new ColumnDecision(false, "", l))]));
            }
        }
    }

    private bool IsData(string column, TableLayout layout) =>
        !layout.Key.Contains(column, StringComparer.OrdinalIgnoreCase) && !MirrorTable.IsReserved(column, isKey: false) && !excluded.Contains(column);

    private SchemaDdl Add(FieldSchema field, RecordVersion version)
    {
        var type = MySqlColumnTypes.For(field);
        var name = SqlIdentifier.QuoteMySql(field.Name);
        var literal = MySqlColumnTypes.DefaultLiteral(field, type);
        (string, object)? fill = null;
        if (literal is null && field.Default is { } value)
        {
            try
            {
                fill = ($"UPDATE {table.Quoted} SET {name} = @value", MySqlColumnTypes.ToMySql(field, value));
            }
            catch (InvalidRecordException)
            {
                // a default MySQL cannot hold (NaN): the rows that exist keep NULL
            }
        }
        return new SchemaDdl($"added column {field.Name} {type}{(field.Default is null ? "" : " with the source's default")}",
            [$"ALTER TABLE {table.Quoted} ADD COLUMN {name} {type.Sql} NULL{(literal is null ? "" : " DEFAULT " + literal)}"],
            [(field.Name, new ColumnDecision(true, type.Sql, version))], fill);
    }

    private SchemaDdl Create(TableSchema schema, RecordVersion version)
    {
        var columns = Mirrored(schema).Select(f => (f.Name, MySqlColumnTypes.For(f), f.IsKey)).ToList();
        // Keys in the key's order first in the PRIMARY KEY; CreateSql lists them in column order.
        var key = schema.KeyIndexes.Select(i => schema.Fields[i].Name).ToList();
        return new SchemaDdl($"created table {table.Name} and {table.DeletedName} from the schema of {Source(schema)}",
            [table.CreateSql(columns, key)],
            [.. columns.Where(c => !c.IsKey).Select(c => (c.Name, new ColumnDecision(true, c.Item2.Sql, version)))]);
    }

    private static string Source(TableSchema schema) => schema.Table is { } t ? $"source table {t}" : "the source table";

    private static string Shorten(string name) => name.Length <= 64 ? name : string.Concat(name.AsSpan(0, 61), "...");
}
