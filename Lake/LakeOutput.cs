using System.Data.Common;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace KafkaPipeline.Lake;

/// <summary>Query results to a writer: an aligned table for people, CSV (RFC 4180) or JSON lines for scripts.</summary>
public static class LakeOutput
{
    public enum Format { Table, Csv, Json }

    public static Format Parse(string text) => text.ToLowerInvariant() switch
    {
        "table" => Format.Table,
        "csv" => Format.Csv,
        "json" => Format.Json,
        _ => throw new ArgumentException($"--format '{text}' must be table, csv or json"),
    };

    /// <returns>The number of rows written.</returns>
    public static long Write(DbDataReader reader, Format format, TextWriter output)
    {
        var names = Enumerable.Range(0, reader.FieldCount).Select(reader.GetName).ToArray();
        return format switch
        {
            Format.Csv => WriteCsv(reader, names, output),
            Format.Json => WriteJson(reader, names, output),
            _ => WriteTable(reader, names, output),
        };
    }

    private static long WriteCsv(DbDataReader reader, string[] names, TextWriter output)
    {
        output.WriteLine(string.Join(",", names.Select(Csv)));
        long rows = 0;
        while (reader.Read())
        {
            output.WriteLine(string.Join(",", Enumerable.Range(0, names.Length).Select(i => reader.IsDBNull(i) ? "" : Csv(Text(reader.GetValue(i))))));
            rows++;
        }
        return rows;
    }

    private static string Csv(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;

    private static long WriteJson(DbDataReader reader, string[] names, TextWriter output)
    {
        var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        long rows = 0;
        using var buffer = new MemoryStream();
        while (reader.Read())
        {
            buffer.SetLength(0);
            using (var w = new Utf8JsonWriter(buffer, options))
            {
                w.WriteStartObject();
                for (var i = 0; i < names.Length; i++)
                {
                    w.WritePropertyName(names[i]);
                    WriteJsonValue(w, reader.IsDBNull(i) ? null : reader.GetValue(i));
                }
                w.WriteEndObject();
            }
            output.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
            rows++;
        }
        return rows;
    }

    private static void WriteJsonValue(Utf8JsonWriter w, object? value)
    {
        switch (value)
        {
            case null: w.WriteNullValue(); break;
            case bool b: w.WriteBooleanValue(b); break;
            case sbyte or byte or short or ushort or int or uint or long or ulong or decimal or float or double or System.Numerics.BigInteger:
                var number = Text(value);
                if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)) w.WriteRawValue(number);
                else w.WriteStringValue(number);
                break;
            case byte[] bytes: w.WriteBase64StringValue(bytes); break;
            case System.Collections.IList list:
                w.WriteStartArray();
                foreach (var item in list) WriteJsonValue(w, item);
                w.WriteEndArray();
                break;
            default: w.WriteStringValue(Text(value)); break;
        }
    }

    private static long WriteTable(DbDataReader reader, string[] names, TextWriter output)
    {
        var rows = new List<string[]>();
        while (reader.Read())
            rows.Add([.. Enumerable.Range(0, names.Length).Select(i => reader.IsDBNull(i) ? "NULL" : Text(reader.GetValue(i)).ReplaceLineEndings(" "))]);
        var widths = names.Select((n, i) => Math.Min(60, rows.Select(r => r[i].Length).Append(n.Length).Max())).ToArray();
        string Line(string[] cells) => string.Join(" | ", cells.Select((c, i) => (c.Length > widths[i] ? c[..(widths[i] - 1)] + "…" : c).PadRight(widths[i]))).TrimEnd();
        output.WriteLine(Line(names));
        output.WriteLine(string.Join("-+-", widths.Select(w => new string('-', w))));
        foreach (var r in rows) output.WriteLine(Line(r));
        return rows.Count;
    }

    /// <summary>A value as text, in the lake's representation: dates yyyy-MM-dd, times and timestamps to the microsecond, UTC with Z.</summary>
    public static string Text(object value) => value switch
    {
        string s => s,
        DateOnly d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        DateTime t when t.Kind == DateTimeKind.Utc => t.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
        DateTime t => t.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
        DateTimeOffset t => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
        TimeOnly t => t.ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
        TimeSpan t => t.ToString(@"hh\:mm\:ss\.ffffff", CultureInfo.InvariantCulture),
        byte[] b => Convert.ToBase64String(b),
        System.Collections.IList list => "[" + string.Join(", ", list.Cast<object?>().Select(i => i is null ? "NULL" : Text(i))) + "]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
