using System.Buffers;
using System.Text;
using System.Text.Json;

namespace KafkaPipeline.Shared.Contract;

/// <summary>
/// Writes change events as the topics carry them: the value is Kafka Connect's JSON with schema,
/// <c>{"schema":{...},"payload":{...}}</c> (what JsonConverter writes with schemas.enable=true), the payload the row's
/// columns; the key is <see cref="EventKeys"/>. Not thread-safe: one per producing loop (it reuses its buffer).
/// </summary>
public sealed class ChangeEventWriter : IDisposable
{
    private static readonly byte[] s_placeholderBytes = Encoding.UTF8.GetBytes(LogicalTypes.UnavailablePlaceholder);
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly Utf8JsonWriter _json;

    public ChangeEventWriter() => _json = new Utf8JsonWriter(_buffer, Options);

    /// <summary>
    /// Text as it is (UTF-8), escaping only what JSON requires, as Kafka Connect's JsonConverter writes it: the default
    /// encoder would also escape every non-ASCII character and quotes meant for HTML.
    /// </summary>
    public static readonly JsonWriterOptions Options = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    /// <summary>
    /// The event value for a row. <paramref name="values"/> in the schema's field order, in each kind's .NET
    /// representation. Fields listed in <paramref name="unchanged"/> (large values an update did not send) get Debezium's
    /// placeholder where the type can hold it, else null; the <see cref="ChangeHeaders.Unchanged"/> header names them.
    /// </summary>
    public byte[] Value(TableSchema schema, ReadOnlySpan<object?> values, IReadOnlySet<int>? unchanged = null)
    {
        _buffer.ResetWrittenCount();
        _json.Reset();
        _json.WriteStartObject();
        _json.WritePropertyName("schema"u8);
        _json.WriteRawValue(schema.Json, skipInputValidation: true);
        _json.WriteStartObject("payload"u8);
        for (var i = 0; i < schema.Fields.Count; i++)
        {
            var field = schema.Fields[i];
            _json.WritePropertyName(field.Name);
            if (unchanged?.Contains(i) == true) WritePlaceholder(field);
            else ConnectValueJson.Write(_json, field, values[i]);
        }
        _json.WriteEndObject();
        _json.WriteEndObject();
        _json.Flush();
        return _buffer.WrittenSpan.ToArray();
    }

    private void WritePlaceholder(FieldSchema field)
    {
        switch (field.Kind)
        {
            case ValueKind.String or ValueKind.Json: _json.WriteStringValue(LogicalTypes.UnavailablePlaceholder); break;
            case ValueKind.Bytes or ValueKind.Decimal: _json.WriteBase64StringValue(s_placeholderBytes); break;
            case ValueKind.Array when field.Items!.Kind is ValueKind.String or ValueKind.Json:
                _json.WriteStartArray();
                _json.WriteStringValue(LogicalTypes.UnavailablePlaceholder);
                _json.WriteEndArray();
                break;
            default: _json.WriteNullValue(); break;
        }
    }

    /// <summary>One-off convenience (tests, tools): a fresh writer per call.</summary>
    public static byte[] ValueOf(TableSchema schema, ReadOnlySpan<object?> values, IReadOnlySet<int>? unchanged = null)
    {
        using var writer = new ChangeEventWriter();
        return writer.Value(schema, values, unchanged);
    }

    public void Dispose() => _json.Dispose();
}

/// <summary>
/// The message key of a row: the value of a single-column key as plain text when it is an integer, text or UUID (the
/// users topic is keyed by the id's digits, "42", as before); otherwise the key columns as a compact JSON object
/// (<c>{"order_id":7,"line":2}</c>). The sinks check that a record's key is the one its value says.
/// </summary>
public static class EventKeys
{
    public static byte[]? Key(TableSchema schema, ReadOnlySpan<object?> values)
    {
        var keys = schema.KeyIndexes;
        if (keys.Count == 0) return null;
        if (keys.Count == 1 && IsPlain(schema.Fields[keys[0]]) && values[keys[0]] is { } single)
            return Encoding.UTF8.GetBytes(ConnectValueJson.ToText(schema.Fields[keys[0]], single));
        var buffer = new ArrayBufferWriter<byte>(64);
        using (var w = new Utf8JsonWriter(buffer, ChangeEventWriter.Options))
        {
            w.WriteStartObject();
            foreach (var i in keys)
            {
                w.WritePropertyName(schema.Fields[i].Name);
                ConnectValueJson.Write(w, schema.Fields[i], values[i]);
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Kinds whose plain text is the key of a single-column key.</summary>
    public static bool IsPlain(FieldSchema field) =>
        field.Kind is ValueKind.Int16 or ValueKind.Int32 or ValueKind.Int64 or ValueKind.String or ValueKind.Uuid;
}
