using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.S3SinkService;

/// <summary>
/// The lake's JSON lines (docs/events.md, "Lake lines"): one JSON object per record, its fields in schema order in the
/// lake's representation of their kind, then the change metadata. Not thread-safe: one per task (it reuses its buffer).
/// </summary>
public sealed class LakeLines : IDisposable
{
    private static readonly long s_epochTicks = DateTime.UnixEpoch.Ticks;
    private static readonly int s_epochDay = DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;
    private const long MicrosPerDay = 86_400_000_000L;

    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private readonly Utf8JsonWriter _json;

    // Text as UTF-8, not \u escapes: the lines are data files, never embedded in HTML.
    public LakeLines() => _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    /// <summary>The record's line, without its line break (JSON escapes every line break inside a value). Valid until the next call.</summary>
    public ReadOnlySpan<byte> Line(LakeRecord record)
    {
        _buffer.ResetWrittenCount();
        _json.Reset();
        var w = _json;
        w.WriteStartObject();
        foreach (var field in record.Fields)
        {
            w.WritePropertyName(field.Schema.Name);
            if (field.Protected) w.WriteStringValue((string)field.Value!);
            else WriteValue(w, field.Schema, field.Value);
        }
        if (record.Unchanged.Count > 0)
        {
            w.WriteStartArray(LakeMetadata.UnchangedName);
            foreach (var name in record.Unchanged) w.WriteStringValue(name);
            w.WriteEndArray();
        }
        var m = record.Metadata;
        w.WriteString(LakeMetadata.OpName, m.Op);
        w.WriteString(LakeMetadata.TableName, m.Table);
        w.WriteString(LakeMetadata.KeyName, m.Key);
        w.WriteString(LakeMetadata.EpochName, m.Epoch);
        w.WriteString(LakeMetadata.CommitLsnName, m.CommitLsn);
        w.WriteString(LakeMetadata.ChangeLsnName, m.ChangeLsn);
        w.WritePropertyName(LakeMetadata.TxIndexName);
        if (m.TxIndex is { } index) w.WriteNumberValue(index);
        else w.WriteNullValue();
        w.WriteString(LakeMetadata.CommitTimeName, m.CommitTime);
        w.WriteNumber(LakeMetadata.PartitionName, m.Partition);
        w.WriteNumber(LakeMetadata.OffsetName, m.Offset);
        w.WriteString(LakeMetadata.DeletedName, m.Deleted ? "true" : "false"); // a string, as Debezium's rewrite writes it
        w.WriteEndObject();
        w.Flush();
        return _buffer.WrittenSpan;
    }

    /// <summary>A value (null: JSON null) in the lake's representation of the field's kind (docs/events.md, "Type mapping").</summary>
    public static void WriteValue(Utf8JsonWriter w, FieldSchema field, object? value)
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
            case ValueKind.Float32:
                var f = (float)value;
                if (float.IsFinite(f)) w.WriteNumberValue(f);
                else WriteNonFinite(w, f);
                break;
            case ValueKind.Float64:
                var d = (double)value;
                if (double.IsFinite(d)) w.WriteNumberValue(d);
                else WriteNonFinite(w, d);
                break;
            case ValueKind.Decimal: w.WriteRawValue(((DecimalValue)value).ToString()); break;
            case ValueKind.Bytes: w.WriteBase64StringValue((byte[])value); break;
            case ValueKind.Date: WriteDate(w, (int)value); break;
            case ValueKind.Time: WriteTime(w, (long)value); break;
            case ValueKind.Timestamp: WriteTimestamp(w, (long)value, "yyyy-MM-dd'T'HH:mm:ss.ffffff"); break;
            case ValueKind.TimestampTz: WriteTimestamp(w, (long)value, "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'"); break;
            case ValueKind.Uuid: w.WriteStringValue((Guid)value); break;
            case ValueKind.Array:
                w.WriteStartArray();
                foreach (var item in (object?[])value) WriteValue(w, field.Items!, item);
                w.WriteEndArray();
                break;
            // numeric without a declared scale travels as its exact text; the lake has it as the number ("NaN" stays a string).
            case ValueKind.String when field.SourceType == "NUMERIC" && DecimalValue.TryParse((string)value, out var exact):
                w.WriteRawValue(exact.ToString());
                break;
            default: w.WriteStringValue((string)value); break;
        }
    }

    private static void WriteNonFinite(Utf8JsonWriter w, double value) =>
        w.WriteStringValue(double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");

    // A day outside 0001-01-01..9999-12-31 (PostgreSQL's dates reach 5874897 AD) has no yyyy-MM-dd: its day number since 1970.
    private static void WriteDate(Utf8JsonWriter w, int daysSinceEpoch)
    {
        var day = (long)s_epochDay + daysSinceEpoch;
        if (day < 0 || day > DateOnly.MaxValue.DayNumber)
        {
            w.WriteNumberValue(daysSinceEpoch);
            return;
        }
        Span<char> text = stackalloc char[16];
        DateOnly.FromDayNumber((int)day).TryFormat(text, out var n, "yyyy-MM-dd", CultureInfo.InvariantCulture);
        w.WriteStringValue(text[..n]);
    }

    // Likewise a timestamp outside the years 0001..9999: its microseconds since 1970.
    private static void WriteTimestamp(Utf8JsonWriter w, long microsSinceEpoch, string format)
    {
        if (microsSinceEpoch < -s_epochTicks / 10 || microsSinceEpoch > (DateTime.MaxValue.Ticks - s_epochTicks) / 10)
        {
            w.WriteNumberValue(microsSinceEpoch);
            return;
        }
        Span<char> text = stackalloc char[32];
        new DateTime(s_epochTicks + microsSinceEpoch * 10).TryFormat(text, out var n, format, CultureInfo.InvariantCulture);
        w.WriteStringValue(text[..n]);
    }

    // PostgreSQL's time reaches 24:00:00, which TimeOnly cannot hold: formatted from the microseconds.
    private static void WriteTime(Utf8JsonWriter w, long micros)
    {
        if (micros is < 0 or > MicrosPerDay)
        {
            w.WriteNumberValue(micros);
            return;
        }
        Span<char> text = stackalloc char[16];
        text.TryWrite(CultureInfo.InvariantCulture,
            $"{micros / 3_600_000_000:00}:{micros / 60_000_000 % 60:00}:{micros / 1_000_000 % 60:00}.{micros % 1_000_000:000000}", out var n);
        w.WriteStringValue(text[..n]);
    }

    public void Dispose() => _json.Dispose();
}
