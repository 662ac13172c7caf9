using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text.Json;

namespace KafkaPipeline.Shared.Contract;

/// <summary>
/// A field value as Kafka Connect's JsonConverter writes it (the "payload" of an event), and back into the .NET
/// representation of its <see cref="ValueKind"/>. The one place that knows both directions, so the source, the tests and
/// the sinks agree on every value.
/// </summary>
public static class ConnectValueJson
{
    private static readonly DateTime s_epoch = DateTime.UnixEpoch;

    /// <summary>Writes <paramref name="value"/> (null: JSON null) in the field's Connect representation.</summary>
    public static void Write(Utf8JsonWriter w, FieldSchema field, object? value)
    {
        if (value is null)
        {
            w.WriteNullValue();
            return;
        }
        switch (field.Kind)
        {
            case ValueKind.Boolean: w.WriteBooleanValue((bool)value); break;
            case ValueKind.Int16: w.WriteNumberValue((short)value); break;
            case ValueKind.Int32: w.WriteNumberValue((int)value); break;
            case ValueKind.Int64: w.WriteNumberValue((long)value); break;
            case ValueKind.Date: w.WriteNumberValue((int)value); break;
            case ValueKind.Time or ValueKind.Timestamp: w.WriteNumberValue((long)value); break;
            case ValueKind.Float32: WriteFloat(w, (float)value); break;
            case ValueKind.Float64: WriteFloat(w, (double)value); break;
            case ValueKind.Decimal: w.WriteBase64StringValue(((DecimalValue)value).Rescale(field.Scale ?? ((DecimalValue)value).Scale).ToConnectBytes()); break;
            case ValueKind.Bytes: w.WriteBase64StringValue((byte[])value); break;
            case ValueKind.TimestampTz: w.WriteStringValue(FormatTimestampTz((long)value)); break;
            case ValueKind.Uuid: w.WriteStringValue(((Guid)value).ToString("D")); break;
            case ValueKind.Array:
                w.WriteStartArray();
                foreach (var item in (object?[])value) Write(w, field.Items!, item);
                w.WriteEndArray();
                break;
            default: w.WriteStringValue((string)value); break;
        }
    }

    private static void WriteFloat(Utf8JsonWriter w, double value)
    {
        if (double.IsFinite(value)) w.WriteNumberValue(value);
        else w.WriteStringValue(double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
    }

    /// <summary>
    /// Reads the value at the reader's current token. Throws <see cref="InvalidRecordException"/> naming the field and
    /// what was wrong (never the value itself: it may be personal data).
    /// </summary>
    public static object? Read(ref Utf8JsonReader r, FieldSchema field)
    {
        if (r.TokenType == JsonTokenType.Null)
        {
            if (!field.Optional) throw Invalid(field, "is null but the schema does not allow null");
            return null;
        }
        switch (field.Kind)
        {
            case ValueKind.Boolean:
                return r.TokenType switch
                {
                    JsonTokenType.True => true,
                    JsonTokenType.False => false,
                    _ => throw Invalid(field, "is not a boolean"),
                };
            case ValueKind.Int16:
                return (short)Integer(ref r, field, short.MinValue, short.MaxValue);
            case ValueKind.Int32:
            case ValueKind.Date:
                return (int)Integer(ref r, field, int.MinValue, int.MaxValue);
            case ValueKind.Int64:
            case ValueKind.Timestamp:
                return Integer(ref r, field, long.MinValue, long.MaxValue);
            case ValueKind.Time:
                return Integer(ref r, field, 0, 86_400_000_000L);
            case ValueKind.Float32:
            {
                var d = Float(ref r, field);
                var f = (float)d;
                return float.IsFinite(f) || !double.IsFinite(d) ? f : throw Invalid(field, "is outside the range of float32");
            }
            case ValueKind.Float64:
                return Float(ref r, field);
            case ValueKind.Decimal:
                return ReadDecimal(ref r, field);
            case ValueKind.Bytes:
                return Base64(ref r, field);
            case ValueKind.TimestampTz:
            {
                var text = Text(ref r, field);
                return TryParseTimestampTz(text, out var micros) ? micros : throw Invalid(field, "is not an ISO-8601 timestamp with a zone");
            }
            case ValueKind.Uuid:
                return Guid.TryParse(Text(ref r, field), out var guid) ? guid : throw Invalid(field, "is not a UUID");
            case ValueKind.Array:
            {
                if (r.TokenType != JsonTokenType.StartArray) throw Invalid(field, "is not an array");
                var items = new List<object?>();
                while (r.Read() && r.TokenType != JsonTokenType.EndArray) items.Add(Read(ref r, field.Items!));
                return items.ToArray();
            }
            default:
                return Text(ref r, field);
        }
    }

    private static long Integer(ref Utf8JsonReader r, FieldSchema field, long min, long max)
    {
        if (r.TokenType != JsonTokenType.Number || !r.TryGetInt64(out var v)) throw Invalid(field, "is not an integer");
        if (v < min || v > max) throw Invalid(field, $"is outside the range of {field.ConnectName ?? field.ConnectType}");
        return v;
    }

    private static double Float(ref Utf8JsonReader r, FieldSchema field)
    {
        if (r.TokenType == JsonTokenType.Number && r.TryGetDouble(out var v))
        {
            // A number beyond double's range (1e400) parses as infinity: not the value that was sent.
            return double.IsFinite(v) ? v : throw Invalid(field, $"is outside the range of {field.ConnectType}");
        }
        if (r.TokenType == JsonTokenType.String)
        {
            if (r.ValueTextEquals("NaN"u8)) return double.NaN;
            if (r.ValueTextEquals("Infinity"u8)) return double.PositiveInfinity;
            if (r.ValueTextEquals("-Infinity"u8)) return double.NegativeInfinity;
        }
        throw Invalid(field, "is not a number");
    }

    private static DecimalValue ReadDecimal(ref Utf8JsonReader r, FieldSchema field)
    {
        var scale = field.Scale ?? 0;
        if (r.TokenType == JsonTokenType.String) return DecimalValue.FromConnectBytes(Base64(ref r, field), scale);
        if (r.TokenType == JsonTokenType.Number)
        {
            // JsonConverter's decimal.format=NUMERIC: the number as written, exactly. A long one (any length the message
            // allows) is copied to the heap: on the stack it would overflow it and end the process.
            var raw = r.ValueSpan;
            Span<char> text = raw.Length <= 256 ? stackalloc char[raw.Length] : new char[raw.Length];
            for (var i = 0; i < text.Length; i++) text[i] = (char)raw[i];
            if (DecimalValue.TryParse(text, out var d))
            {
                try
                {
                    return d.Rescale(Math.Max(scale, 0));
                }
                catch (FormatException)
                {
                    throw Invalid(field, $"has more than {scale} decimal places");
                }
            }
        }
        throw Invalid(field, "is not a Connect decimal (base64 bytes or a number)");
    }

    private static byte[] Base64(ref Utf8JsonReader r, FieldSchema field)
    {
        if (r.TokenType != JsonTokenType.String || !r.TryGetBytesFromBase64(out var bytes)) throw Invalid(field, "is not base64 text");
        return bytes;
    }

    private static string Text(ref Utf8JsonReader r, FieldSchema field)
    {
        if (r.TokenType != JsonTokenType.String) throw Invalid(field, "is not a string");
        try
        {
            return r.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // A lone surrogate (\ud800) or invalid UTF-8: not text any store can hold.
            throw Invalid(field, "holds text that is not valid Unicode");
        }
    }

    private static InvalidRecordException Invalid(FieldSchema field, string problem) =>
        new($"field '{field.Name}' ({field.ConnectName ?? field.ConnectType}) {problem}");

    /// <summary>ISO-8601 in UTC with microseconds, as the source writes timestamptz ("2026-12-02T07:20:39.246000Z").</summary>
    public static string FormatTimestampTz(long microsSinceEpoch) =>
        ToDateTime(microsSinceEpoch).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    public static bool TryParseTimestampTz(string text, out long microsSinceEpoch)
    {
        microsSinceEpoch = 0;
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)) return false;
        microsSinceEpoch = (t.UtcTicks - s_epoch.Ticks) / 10;
        return true;
    }

    /// <summary>Microseconds since the epoch as a <see cref="DateTime"/> (kind Unspecified: the caller says what zone it is).</summary>
    public static DateTime ToDateTime(long microsSinceEpoch) =>
        new(s_epoch.Ticks + microsSinceEpoch * 10, DateTimeKind.Unspecified);

    public static long FromDateTime(DateTime value) =>
        ((value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : value).Ticks - s_epoch.Ticks) / 10;

    public static DateOnly ToDate(int daysSinceEpoch) => DateOnly.FromDayNumber(DateOnly.FromDateTime(s_epoch).DayNumber + daysSinceEpoch);

    public static int FromDate(DateOnly date) => date.DayNumber - DateOnly.FromDateTime(s_epoch).DayNumber;

    /// <summary>The value as plain text: the key of a single-column key, and what text columns and logs see.</summary>
    public static string ToText(FieldSchema field, object value) => field.Kind switch
    {
        ValueKind.Int16 or ValueKind.Int32 or ValueKind.Int64 or ValueKind.Date or ValueKind.Time or ValueKind.Timestamp =>
            Convert.ToInt64(value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture),
        ValueKind.Uuid => ((Guid)value).ToString("D"),
        ValueKind.TimestampTz => FormatTimestampTz((long)value),
        ValueKind.Decimal => ((DecimalValue)value).ToString(),
        ValueKind.Boolean => (bool)value ? "true" : "false",
        ValueKind.String or ValueKind.Json => (string)value,
        _ => JsonText(field, value),
    };

    private static string JsonText(FieldSchema field, object value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, ChangeEventWriter.Options)) Write(w, field, value);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Parses a key column's text back (<see cref="ToText"/>'s inverse for the kinds a key can be).</summary>
    public static bool TryParseText(FieldSchema field, string text, out object? value)
    {
        value = null;
        switch (field.Kind)
        {
            case ValueKind.Int16 when short.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var s): value = s; return true;
            case ValueKind.Int32 or ValueKind.Date when int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i): value = i; return true;
            case ValueKind.Int64 or ValueKind.Time or ValueKind.Timestamp when long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l): value = l; return true;
            case ValueKind.Uuid when Guid.TryParse(text, out var g): value = g; return true;
            case ValueKind.TimestampTz when TryParseTimestampTz(text, out var t): value = t; return true;
            case ValueKind.Decimal when DecimalValue.TryParse(text, out var d): value = d; return true;
            case ValueKind.String or ValueKind.Json: value = text; return true;
            default: return false;
        }
    }

    internal static bool IsDigits(ReadOnlySpan<byte> bytes) => Utf8Parser.TryParse(bytes, out long _, out var consumed) && consumed == bytes.Length;
}
