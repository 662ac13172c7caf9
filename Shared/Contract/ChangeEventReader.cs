using System.Text.Json;

namespace KafkaPipeline.Shared.Contract;

/// <summary>One row version read from an event value: its schema, its values in field order, and which fields an update left unchanged.</summary>
public sealed class RowImage(TableSchema schema, object?[] values, bool[]? unchanged)
{
    public TableSchema Schema { get; } = schema;

    /// <summary>In the schema's field order, each in its kind's .NET representation (<see cref="ValueKind"/>).</summary>
    public object?[] Values { get; } = values;

    /// <summary>True when some field was not sent (a large value an update did not change): its stored value stands.</summary>
    public bool HasUnchanged => unchanged is not null;

    public bool IsUnchanged(int field) => unchanged is not null && unchanged[field];

    public object? this[string field] => Schema.IndexOf(field) is var i and >= 0 ? Values[i] : null;

    /// <summary>A copy where the unchanged fields take <paramref name="older"/>'s values (when it has them).</summary>
    public RowImage FillUnchangedFrom(RowImage older)
    {
        if (unchanged is null) return this;
        var values = (object?[])Values.Clone();
        var still = (bool[])unchanged.Clone();
        var any = false;
        for (var i = 0; i < values.Length; i++)
        {
            if (!still[i]) continue;
            var j = older.Schema.IndexOf(Schema.Fields[i].Name);
            if (j >= 0 && !older.IsUnchanged(j))
            {
                values[i] = older.Values[j];
                still[i] = false;
            }
            any |= still[i];
        }
        return new RowImage(Schema, values, any ? still : null);
    }
}

/// <summary>
/// Reads event values (Kafka Connect's JSON with schema). Each distinct schema is parsed once and kept by its bytes (the
/// source writes identical bytes for every event of one table version), so a record costs one pass over its payload.
/// Everything wrong with a value is an <see cref="InvalidRecordException"/> whose message names the field and the
/// problem, never the value. Thread-safe.
/// </summary>
public sealed class ChangeEventReader(int maxSchemas = 256)
{
    private readonly Dictionary<byte[], TableSchema> _schemas = new(ByteArrayComparer.Instance);
    private readonly Lock _lock = new();

    public int CachedSchemas
    {
        get { lock (_lock) return _schemas.Count; }
    }

    /// <param name="value">The message value (not null: a tombstone has no row).</param>
    /// <param name="unchangedColumns">The <see cref="ChangeHeaders.Unchanged"/> header's columns, if any.</param>
    public RowImage Read(ReadOnlySpan<byte> value, IReadOnlyCollection<string>? unchangedColumns = null)
    {
        try
        {
            var (schemaRange, payloadRange) = Split(value);
            var schema = Schema(value[schemaRange]);
            return ReadPayload(schema, value[payloadRange], unchangedColumns);
        }
        catch (JsonException e)
        {
            throw new InvalidRecordException($"value is not valid JSON (at byte {e.BytePositionInLine})");
        }
        catch (InvalidOperationException)
        {
            throw new InvalidRecordException("value holds text that is not valid Unicode");
        }
    }

    /// <summary>Where the "schema" and "payload" members are in the value.</summary>
    public static (Range Schema, Range Payload) Split(ReadOnlySpan<byte> value)
    {
        var r = new Utf8JsonReader(value, new JsonReaderOptions { MaxDepth = 64 });
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject) throw new InvalidRecordException("value is not a JSON object");
        int schemaStart = -1, schemaEnd = -1, payloadStart = -1, payloadEnd = -1;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            var isSchema = r.ValueTextEquals("schema"u8);
            var isPayload = !isSchema && r.ValueTextEquals("payload"u8);
            r.Read();
            var start = (int)r.TokenStartIndex;
            if ((isSchema || isPayload) && r.TokenType != JsonTokenType.StartObject)
                throw new InvalidRecordException(isSchema ? "the value's schema is not a JSON object"
                    : r.TokenType == JsonTokenType.Null ? "the value's payload is null (a delete is a null value, not a null payload)"
                    : "the value's payload is not a JSON object");
            r.Skip();
            var end = (int)r.BytesConsumed;
            if (isSchema) (schemaStart, schemaEnd) = (start, end);
            else if (isPayload) (payloadStart, payloadEnd) = (start, end);
            else throw new InvalidRecordException("value has members other than schema and payload (not Kafka Connect's JSON with schema)");
        }
        if (r.TokenType != JsonTokenType.EndObject || r.Read()) throw new InvalidRecordException("value is not one JSON object");
        if (schemaStart < 0) throw new InvalidRecordException("value has no schema (Kafka Connect's JSON with schema: {\"schema\":...,\"payload\":...})");
        if (payloadStart < 0) throw new InvalidRecordException("value has no payload");
        return (schemaStart..schemaEnd, payloadStart..payloadEnd);
    }

    private TableSchema Schema(ReadOnlySpan<byte> json)
    {
        lock (_lock)
        {
            if (_schemas.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(json, out var known)) return known;
        }
        var parsed = TableSchema.Parse(json);
        lock (_lock)
        {
            if (_schemas.Count >= maxSchemas) _schemas.Clear(); // many distinct schemas: a stranger's topic; start over
            _schemas[json.ToArray()] = parsed;
        }
        return parsed;
    }

    private static RowImage ReadPayload(TableSchema schema, ReadOnlySpan<byte> payload, IReadOnlyCollection<string>? unchangedColumns)
    {
        var fields = schema.Fields;
        var values = new object?[fields.Count];
        var seen = new bool[fields.Count];
        bool[]? unchanged = null;
        if (unchangedColumns is not null)
        {
            foreach (var name in unchangedColumns)
            {
                var i = name is null ? -1 : schema.IndexOf(name);
                if (i >= 0) (unchanged ??= new bool[fields.Count])[i] = true;
            }
        }

        var r = new Utf8JsonReader(payload, new JsonReaderOptions { MaxDepth = 64 });
        r.Read();
        Span<char> nameBuffer = stackalloc char[128];
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            var length = r.HasValueSequence ? r.ValueSequence.Length : r.ValueSpan.Length;
            var chars = length <= nameBuffer.Length ? nameBuffer[..r.CopyString(nameBuffer)] : r.GetString().AsSpan();
            if (!schema.NameLookup.TryGetValue(chars, out var index))
                throw new InvalidRecordException($"the payload has a field the schema does not list ('{Shorten(chars)}')");
            if (seen[index]) throw new InvalidRecordException($"field '{fields[index].Name}' appears twice in the payload");
            seen[index] = true;
            r.Read();
            if (unchanged?[index] == true)
            {
                r.Skip();
                continue;
            }
            if (fields[index].Kind is ValueKind.String or ValueKind.Json && r.TokenType == JsonTokenType.String
                && r.ValueTextEquals(LogicalTypes.UnavailablePlaceholder))
            {
                (unchanged ??= new bool[fields.Count])[index] = true;
                continue;
            }
            values[index] = ConnectValueJson.Read(ref r, fields[index]);
        }
        for (var i = 0; i < fields.Count; i++)
        {
            if (!seen[i] && !fields[i].Optional && unchanged?[i] != true)
                throw new InvalidRecordException($"field '{fields[i].Name}' is missing from the payload but the schema does not allow null");
        }
        return new RowImage(schema, values, unchanged);
    }

    // A field name is the schema's vocabulary, not personal data; still, a stranger's could be anything: keep it short.
    private static string Shorten(ReadOnlySpan<char> name) => name.Length <= 64 ? name.ToString() : string.Concat(name[..61], "...");

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(byte[] obj) => GetHashCode((ReadOnlySpan<byte>)obj);
        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);
        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

        public int GetHashCode(ReadOnlySpan<byte> alternate)
        {
            var hash = new HashCode();
            hash.AddBytes(alternate);
            return hash.ToHashCode();
        }
    }
}
