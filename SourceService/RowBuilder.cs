using System.Text;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Postgres;

namespace KafkaPipeline.SourceService;

/// <summary>A row read from PostgreSQL: the event fields' values, the writer's trace context, the fields an update did not send.</summary>
public sealed record DecodedRow(CapturedTable Table, object?[] Values, string? TraceParent, IReadOnlySet<int>? Unchanged)
{
    public IReadOnlyCollection<string>? UnchangedColumns =>
        Unchanged is null ? null : [.. Unchanged.Order().Select(i => Table.Schema.Fields[i].Name)];
}

/// <summary>
/// Builds <see cref="DecodedRow"/>s from the binary values of a table's columns, the same way whether they come from
/// pgoutput (streaming) or binary COPY (snapshot, polling). Values a field cannot represent become null and are reported
/// (table, column, what; never the value) through <paramref name="unrepresentable"/>. Not thread-safe.
/// </summary>
public sealed class RowBuilder(Action<string, string, string> unrepresentable)
{
    private CapturedTable _table = null!;
    private object?[] _values = [];
    private HashSet<int>? _unchanged;
    private string? _traceParent;

    public void Begin(CapturedTable table)
    {
        _table = table;
        _values = new object?[table.Schema.Fields.Count];
        _unchanged = null;
        _traceParent = null;
    }

    /// <summary>Column <paramref name="column"/> (in the table's column order) has this binary value.</summary>
    public void Set(int column, ReadOnlySpan<byte> data)
    {
        var plan = _table.Columns[column];
        if (plan.IsTraceParent)
        {
            _traceParent = Encoding.UTF8.GetString(data);
            return;
        }
        if (plan.Field < 0) return;
        var field = _table.Schema.Fields[plan.Field];
        try
        {
            _values[plan.Field] = PgTypes.Decode(plan.Type!, field, data);
        }
        catch (UnrepresentableValueException e)
        {
            _values[plan.Field] = null;
            unrepresentable(_table.Table, field.Name, e.What);
        }
    }

    /// <summary>Column <paramref name="column"/> was not sent: an unchanged large value (its field gets the placeholder).</summary>
    public void SetUnchanged(int column)
    {
        var plan = _table.Columns[column];
        if (plan.Field >= 0) (_unchanged ??= []).Add(plan.Field);
    }

    /// <summary>Takes an unchanged field's value from an older image of the row (REPLICA IDENTITY FULL sends it there).</summary>
    public void FillUnchangedFrom(DecodedRow old)
    {
        if (_unchanged is null || !ReferenceEquals(old.Table, _table)) return;
        foreach (var i in _unchanged.ToList())
        {
            if (old.Unchanged?.Contains(i) == true) continue;
            _values[i] = old.Values[i];
            _unchanged.Remove(i);
        }
        if (_unchanged.Count == 0) _unchanged = null;
    }

    public DecodedRow Build() => new(_table, _values, _traceParent, _unchanged);
}
