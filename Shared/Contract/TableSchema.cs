using System.Globalization;
using System.Text;
using System.Text.Json;

namespace KafkaPipeline.Shared.Contract;

/// <summary>
/// The shape of one version of a table's change events: its fields in column order, which of them form the key, and
/// the schema part of every event value (Kafka Connect's JSON schema, <see cref="Json"/>), built once per version.
/// </summary>
public sealed class TableSchema
{
    /// <summary>Debezium's column.propagate.source.type parameters and ours (which fields form the key).</summary>
    public const string SourceTypeParameter = "__debezium.source.column.type";
    public const string LengthParameter = "__debezium.source.column.length";
    public const string ScaleParameter = "__debezium.source.column.scale";
    public const string KeyParameter = "__kafkapipeline.key";

    private readonly Dictionary<string, int> _index;

    /// <param name="table">Schema-qualified table name ("public.users"), or null when the schema does not say.</param>
    public TableSchema(string? table, IReadOnlyList<FieldSchema> fields)
    {
        Table = table;
        Fields = fields;
        _index = new Dictionary<string, int>(fields.Count, StringComparer.Ordinal);
        for (var i = 0; i < fields.Count; i++)
        {
            if (!_index.TryAdd(fields[i].Name, i)) throw new ArgumentException($"field '{fields[i].Name}' appears twice in the schema");
        }
        KeyIndexes = [.. Enumerable.Range(0, fields.Count).Where(i => fields[i].IsKey)];
        Json = Write(this);
        NameLookup = _index.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public string? Table { get; }
    public IReadOnlyList<FieldSchema> Fields { get; }
    public IReadOnlyList<int> KeyIndexes { get; }

    /// <summary>The schema as the "schema" member of every event value writes it.</summary>
    public byte[] Json { get; }

    /// <summary>The struct's Connect name: kafkapipeline.&lt;schema&gt;.&lt;table&gt;.Value.</summary>
    public string? ConnectName => Table is null ? null : $"kafkapipeline.{Table}.Value";

    internal Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> NameLookup { get; }

    public int IndexOf(string name) => _index.TryGetValue(name, out var i) ? i : -1;

    public FieldSchema? Field(string name) => _index.TryGetValue(name, out var i) ? Fields[i] : null;

    private static byte[] Write(TableSchema schema)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, ChangeEventWriter.Options))
        {
            w.WriteStartObject();
            w.WriteString("type", "struct");
            w.WriteStartArray("fields");
            foreach (var f in schema.Fields) WriteField(w, f, f.Name);
            w.WriteEndArray();
            w.WriteBoolean("optional", false);
            if (schema.ConnectName is { } name) w.WriteString("name", name);
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static void WriteField(Utf8JsonWriter w, FieldSchema f, string? fieldName)
    {
        w.WriteStartObject();
        w.WriteString("type", f.ConnectType);
        if (f.Items is { } items)
        {
            w.WritePropertyName("items");
            WriteField(w, items, null);
        }
        w.WriteBoolean("optional", f.Optional);
        if (f.ConnectName is { } logical)
        {
            w.WriteString("name", logical);
            w.WriteNumber("version", 1);
        }
        var parameters = Parameters(f);
        if (parameters.Count > 0)
        {
            w.WriteStartObject("parameters");
            foreach (var (k, v) in parameters) w.WriteString(k, v);
            w.WriteEndObject();
        }
        if (f.Default is { } value)
        {
            w.WritePropertyName("default");
            ConnectValueJson.Write(w, f, value);
        }
        if (fieldName is not null) w.WriteString("field", fieldName);
        w.WriteEndObject();
    }

    private static List<(string, string)> Parameters(FieldSchema f)
    {
        var p = new List<(string, string)>();
        if (f.Kind == ValueKind.Decimal)
        {
            p.Add(("scale", (f.Scale ?? 0).ToString(CultureInfo.InvariantCulture)));
            if (f.Length is { } precision) p.Add(("connect.decimal.precision", precision.ToString(CultureInfo.InvariantCulture)));
        }
        if (f.SourceType is { } type) p.Add((SourceTypeParameter, type));
        if (f.Length is { } length) p.Add((LengthParameter, length.ToString(CultureInfo.InvariantCulture)));
        if (f.Scale is { } scale) p.Add((ScaleParameter, scale.ToString(CultureInfo.InvariantCulture)));
        if (f.IsKey) p.Add((KeyParameter, "true"));
        return p;
    }

    /// <summary>Reads a Connect JSON struct schema; throws <see cref="InvalidRecordException"/> naming what is wrong.</summary>
    public static TableSchema Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || Str(root, "type") != "struct")
                throw new InvalidRecordException("the value's schema is not a struct");
            if (!root.TryGetProperty("fields", out var fields) || fields.ValueKind != JsonValueKind.Array)
                throw new InvalidRecordException("the value's schema has no fields");
            var list = new List<FieldSchema>();
            foreach (var f in fields.EnumerateArray())
            {
                var name = Str(f, "field") ?? throw new InvalidRecordException("a field of the value's schema has no name");
                list.Add(ReadField(f, name));
            }
            string? table = null;
            if (Str(root, "name") is { } structName && structName.StartsWith("kafkapipeline.", StringComparison.Ordinal)
                && structName.EndsWith(".Value", StringComparison.Ordinal) && structName.Length > 20)
                table = structName["kafkapipeline.".Length..^".Value".Length];
            try
            {
                return new TableSchema(table, list);
            }
            catch (ArgumentException e)
            {
                throw new InvalidRecordException($"the value's schema is not usable: {e.Message}");
            }
        }
        catch (JsonException e)
        {
            throw new InvalidRecordException($"the value's schema is not valid JSON (at byte {e.BytePositionInLine})");
        }
    }

    private static FieldSchema ReadField(JsonElement f, string name)
    {
        var type = Str(f, "type") ?? throw new InvalidRecordException($"field '{name}' of the value's schema has no type");
        var logical = Str(f, "name");
        var optional = f.TryGetProperty("optional", out var o) && o.ValueKind == JsonValueKind.True;
        var parameters = f.TryGetProperty("parameters", out var p) && p.ValueKind == JsonValueKind.Object ? p : default;
        string? Param(string key) => parameters.ValueKind == JsonValueKind.Object ? Str(parameters, key) : null;
        int? IntParam(string key) => int.TryParse(Param(key), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : null;

        FieldSchema? items = null;
        var kind = (type, logical) switch
        {
            ("boolean", _) => ValueKind.Boolean,
            ("int8" or "int16", _) => ValueKind.Int16,
            ("int32", LogicalTypes.Date or LogicalTypes.ConnectDate) => ValueKind.Date,
            ("int32", _) => ValueKind.Int32,
            ("int64", LogicalTypes.MicroTime) => ValueKind.Time,
            ("int64", LogicalTypes.MicroTimestamp) => ValueKind.Timestamp,
            ("int64", _) => ValueKind.Int64,
            ("float32", _) => ValueKind.Float32,
            ("float64", _) => ValueKind.Float64,
            ("bytes", LogicalTypes.Decimal) => ValueKind.Decimal,
            ("bytes", _) => ValueKind.Bytes,
            ("string", LogicalTypes.ZonedTimestamp) => ValueKind.TimestampTz,
            ("string", LogicalTypes.Uuid) => ValueKind.Uuid,
            ("string", LogicalTypes.Json) => ValueKind.Json,
            ("string", _) => ValueKind.String,
            ("array", _) => ValueKind.Array,
            _ => throw new InvalidRecordException($"field '{name}' has type '{type}', which the pipeline does not carry (struct, map)"),
        };
        if (kind == ValueKind.Array)
        {
            if (!f.TryGetProperty("items", out var i) || i.ValueKind != JsonValueKind.Object)
                throw new InvalidRecordException($"array field '{name}' has no items schema");
            items = ReadField(i, name);
            if (items.Kind == ValueKind.Array) throw new InvalidRecordException($"field '{name}' is an array of arrays, which the pipeline does not carry");
        }
        int? length = IntParam(LengthParameter), scale = IntParam(ScaleParameter);
        if (kind == ValueKind.Decimal)
        {
            scale = IntParam("scale") ?? throw new InvalidRecordException($"decimal field '{name}' has no scale parameter");
            // PostgreSQL's numeric(p,s) declares -1000 <= s <= 1000; a larger one would blow every value up when written out.
            if (scale is < -1000 or > 1000) throw new InvalidRecordException($"decimal field '{name}' has a scale outside -1000..1000");
            length ??= IntParam("connect.decimal.precision");
        }
        var known = logical is null || logical is LogicalTypes.Decimal or LogicalTypes.Date or LogicalTypes.ConnectDate
            or LogicalTypes.MicroTime or LogicalTypes.MicroTimestamp or LogicalTypes.ZonedTimestamp or LogicalTypes.Uuid or LogicalTypes.Json;
        var field = new FieldSchema(name, kind, optional, Param(KeyParameter) == "true", Param(SourceTypeParameter), length, scale, items,
            LogicalName: known ? null : logical);
        if (f.TryGetProperty("default", out var d) && d.ValueKind != JsonValueKind.Null)
        {
            var raw = Encoding.UTF8.GetBytes(d.GetRawText());
            var reader = new Utf8JsonReader(raw);
            reader.Read();
            field = field with { Default = ConnectValueJson.Read(ref reader, field) };
        }
        return field;
    }

    private static string? Str(JsonElement e, string property) =>
        e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
