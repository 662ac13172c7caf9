using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Postgres;

namespace KafkaPipeline.SourceService;

/// <summary>A column of a table as PostgreSQL describes it: a relation message's entry, or pg_attribute's.</summary>
public readonly record struct SourceColumn(string Name, uint TypeOid, int TypeModifier);

/// <summary>
/// What the catalog adds to a table's columns: its key, and per column added with a default the value that rows
/// written before it existed have (pg_attribute.attmissingval, as the binary form of a one-element array).
/// </summary>
public sealed record TableDetails(IReadOnlyList<string> KeyColumns, IReadOnlyDictionary<string, byte[]> MissingValues)
{
    public static readonly TableDetails None = new([], new Dictionary<string, byte[]>());
}

/// <summary>How one column of the table is read: into which event field (-1: not carried), with which type.</summary>
public readonly record struct ColumnPlan(int Field, PgType? Type, bool IsTraceParent);

/// <summary>
/// One version of a captured table: the events' schema (<see cref="TableSchema"/>), and for each of the table's
/// columns, in the order PostgreSQL lists them, where its value goes. Built once per relation message (streaming) or per
/// snapshot, from the same inputs, so both give the same schema bytes for the same table.
/// </summary>
public sealed class CapturedTable
{
    private CapturedTable(string table, string topic, TableSchema schema, ColumnPlan[] columns, IReadOnlyList<string> unsupported)
    {
        Table = table;
        Topic = topic;
        Schema = schema;
        Columns = columns;
        Unsupported = unsupported;
    }

    /// <summary>Schema-qualified name ("public.users").</summary>
    public string Table { get; }

    /// <summary>The topic its changes go to.</summary>
    public string Topic { get; }

    public TableSchema Schema { get; }

    /// <summary>Per column of the table (relation or COPY order).</summary>
    public IReadOnlyList<ColumnPlan> Columns { get; }

    /// <summary>Columns left out of the events because their type is not carried ("geom (geometry)").</summary>
    public IReadOnlyList<string> Unsupported { get; }

    /// <param name="traceParentColumn">The column whose text is the writer's W3C trace context (a header, not a field).</param>
    public static CapturedTable Build(string table, string topic, IReadOnlyList<SourceColumn> columns, IReadOnlyDictionary<uint, PgType?> types,
        TableDetails details, string? traceParentColumn)
    {
        var fields = new List<FieldSchema>();
        var plans = new ColumnPlan[columns.Count];
        var unsupported = new List<string>();
        for (var i = 0; i < columns.Count; i++)
        {
            var c = columns[i];
            var type = types.GetValueOrDefault(c.TypeOid);
            if (c.Name == traceParentColumn && type?.Format == PgBinaryFormat.Text)
            {
                plans[i] = new ColumnPlan(-1, type, IsTraceParent: true);
                continue;
            }
            if (type is null)
            {
                unsupported.Add($"{c.Name} (type oid {c.TypeOid})");
                plans[i] = new ColumnPlan(-1, null, false);
                continue;
            }
            var isKey = details.KeyColumns.Contains(c.Name);
            var field = PgTypes.Field(c.Name, type, c.TypeModifier, isKey);
            if (details.MissingValues.TryGetValue(c.Name, out var missing) && MissingValue(type, field, missing) is { } value)
                field = field with { Default = value };
            plans[i] = new ColumnPlan(fields.Count, type, false);
            fields.Add(field);
        }
        return new CapturedTable(table, topic, new TableSchema(table, fields), plans, unsupported);
    }

    private static object? MissingValue(PgType type, FieldSchema field, byte[] oneElementArray)
    {
        try
        {
            var array = new PgType(0, "_" + type.Name, PgBinaryFormat.Array, type);
            return ((object?[])PgTypes.Decode(array, field with { Kind = ValueKind.Array, Items = field }, oneElementArray)).FirstOrDefault();
        }
        catch (UnrepresentableValueException)
        {
            return null; // e.g. 'infinity': rows written before the column existed then show null in the sinks
        }
    }
}
