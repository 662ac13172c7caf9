using System.Globalization;

using System.Text.Encodings.Web;
using System.Text.Json;
using ParquetSharp;

namespace KafkaPipeline.IntegrationTests.S3Sink;

/// <summary>
/// Reads the sink's Parquet objects with ParquetSharp (Apache Arrow's C++ reader; the sink writes with Parquet.Net, so
/// this is a second, independent implementation) and writes each row out as the JSON lake line docs/events.md describes,
/// so Parquet objects are checked against the same expectations as JSON-lines objects.
/// </summary>
internal static class ParquetObjects
{
    private static readonly JsonWriterOptions s_json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Each column's name and type as the file declares it ("INT64", "STRING", "DATE", "TIMESTAMP(MICROS,UTC)", ...).</summary>
    public static List<(string Name, string Type)> Columns(byte[] parquet)
    {
        using var file = new ParquetFileReader(new MemoryStream(parquet), leaveOpen: false);
        var schema = file.FileMetaData.Schema;
        return [.. Enumerable.Range(0, schema.NumColumns).Select(i => (schema.Column(i).Name, TypeOf(schema.Column(i))))];
    }

    private static string TypeOf(ColumnDescriptor c) => c.LogicalType switch
    {
        StringLogicalType => "STRING",
        DateLogicalType => "DATE",
        TimestampLogicalType t => $"TIMESTAMP({t.TimeUnit.ToString().ToUpperInvariant()},{(t.IsAdjustedToUtc ? "UTC" : "LOCAL")})",
        TimeLogicalType t => $"TIME({t.TimeUnit.ToString().ToUpperInvariant()})",
        DecimalLogicalType d => $"DECIMAL({d.Precision},{d.Scale})",
        IntLogicalType i => $"INT{i.BitWidth}",
        _ => c.PhysicalType.ToString().ToUpperInvariant(),
    };

    /// <summary>The rows as lake lines (UTF-8 JSON, no line break). A delete's null fields are left out, as its line has only the key.</summary>
    public static List<byte[]> Lines(byte[] parquet)
    {
        using var file = new ParquetFileReader(new MemoryStream(parquet), leaveOpen: false);
        var schema = file.FileMetaData.Schema;
        var names = Enumerable.Range(0, schema.NumColumns).Select(i => schema.Column(i).Name).ToList();
        var columns = names.Select(_ => new List<object?>()).ToList();
        for (var g = 0; g < file.FileMetaData.NumRowGroups; g++)
        {
            using var group = file.RowGroup(g);
            var rows = (int)group.MetaData.NumRows;
            for (var c = 0; c < names.Count; c++)
            {
                using var reader = group.Column(c).LogicalReader();
                columns[c].AddRange(reader.Apply(new ReadAll(rows)));
            }
        }
        var unchangedAt = names.IndexOf("__unchanged");
        var lines = new List<byte[]>();
        for (var r = 0; r < columns[0].Count; r++)
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer, s_json))
            {
                var deleted = (string?)columns[names.IndexOf("__deleted")][r] == "true";
                var unchanged = columns[unchangedAt][r] is string u ? JsonSerializer.Deserialize<string[]>(u)! : [];
                w.WriteStartObject();
                for (var c = 0; c < names.Count; c++)
                {
                    var value = columns[c][r];
                    var metadata = c >= unchangedAt;
                    if (!metadata && ((deleted && value is null) || unchanged.Contains(names[c]))) continue;
                    if (c == unchangedAt)
                    {
                        if (unchanged.Length == 0) continue;
                        w.WriteStartArray(names[c]);
                        foreach (var name in unchanged) w.WriteStringValue(name);
                        w.WriteEndArray();
                        continue;
                    }
                    w.WritePropertyName(names[c]);
                    Write(w, schema.Column(c), value);
                }
                w.WriteEndObject();
            }
            lines.Add(buffer.ToArray());
        }
        return lines;
    }

    private static void Write(Utf8JsonWriter w, ColumnDescriptor column, object? value)
    {
        switch (value)
        {
            case null: w.WriteNullValue(); break;
            case string s: w.WriteStringValue(s); break;
            case bool b: w.WriteBooleanValue(b); break;
            case short s: w.WriteNumberValue(s); break;
            case int i: w.WriteNumberValue(i); break;
            case long l: w.WriteNumberValue(l); break;
            case float f: w.WriteNumberValue(f); break;
            case double d: w.WriteNumberValue(d); break;
            // At the column's declared scale, as the lines write numeric(p,s).
            case decimal m: w.WriteRawValue(m.ToString("F" + ((DecimalLogicalType)column.LogicalType).Scale.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)); break;
            case byte[] bytes: w.WriteBase64StringValue(bytes); break;
            case Date d: w.WriteStringValue(d.DateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)); break;
            case TimeSpan t: w.WriteStringValue(t.ToString(@"hh\:mm\:ss\.ffffff", CultureInfo.InvariantCulture)); break;
            case DateTime t:
                var utc = column.LogicalType is TimestampLogicalType { IsAdjustedToUtc: true };
                w.WriteStringValue(t.ToString(utc ? "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'" : "yyyy-MM-dd'T'HH:mm:ss.ffffff", CultureInfo.InvariantCulture));
                break;
            default: throw new InvalidOperationException($"column {column.Name}: unexpected value type {value.GetType().Name}");
        }
    }

    private sealed class ReadAll(int rows) : ILogicalColumnReaderVisitor<object?[]>
    {
        public object?[] OnLogicalColumnReader<TValue>(LogicalColumnReader<TValue> reader) => [.. reader.ReadAll(rows).Select(v => (object?)v)];
    }

    public static bool IsParquet(string key) => key.EndsWith(".parquet", StringComparison.Ordinal);

    public static string Text(byte[] line) => System.Text.Encoding.UTF8.GetString(line);
}
