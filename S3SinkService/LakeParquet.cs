using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using KafkaPipeline.Shared.Contract;
using Parquet;
using Parquet.Schema;

namespace KafkaPipeline.S3SinkService;

/// <summary>
/// The lake's Parquet objects (docs/lake.md): the columns of one schema version of the table in schema order, each with
/// the native Parquet type of its kind, then the change metadata columns of the JSON lines (<see cref="LakeMetadata"/>).
/// Every column is nullable (a delete has only its key fields). Zstd-compressed, one row group per object.
/// </summary>
public sealed class LakeParquet
{
    private static readonly JsonWriterOptions s_json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private const long MicrosPerDay = 86_400_000_000L;

    private readonly DataField[] _fields;
    private readonly Type[] _types; // the .NET type of each column's cells (Parquet.Net's ClrType of text is ReadOnlyMemory<char>)

    /// <param name="table">The schema version; null for an object of deletes only, before the sink saw a row of the table.</param>
    /// <param name="isProtected">Whether a field holds its keyed hash (a string column whatever its kind).</param>
    public LakeParquet(TableSchema? table, Func<string, bool> isProtected)
    {
        Table = table;
        var fields = new List<DataField>();
        foreach (var f in table?.Fields ?? [])
            fields.Add(isProtected(f.Name) ? new DataField<string>(f.Name, true) : ColumnOf(f));
        fields.Add(new DataField<string>(LakeMetadata.UnchangedName, true));
        foreach (var name in new[] { LakeMetadata.OpName, LakeMetadata.TableName, LakeMetadata.KeyName, LakeMetadata.EpochName,
                     LakeMetadata.CommitLsnName, LakeMetadata.ChangeLsnName })
            fields.Add(new DataField<string>(name, true));
        fields.Add(new DataField<long>(LakeMetadata.TxIndexName, true));
        fields.Add(new DateTimeDataField(LakeMetadata.CommitTimeName, DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: true));
        fields.Add(new DataField<int>(LakeMetadata.PartitionName, true));
        fields.Add(new DataField<long>(LakeMetadata.OffsetName, true));
        fields.Add(new DataField<string>(LakeMetadata.DeletedName, true));
        _fields = [.. fields];
        _types = [.. _fields.Select(ValueType)];
        Schema = new ParquetSchema(_fields);
    }

    public TableSchema? Table { get; }
    public ParquetSchema Schema { get; }

    /// <summary>True when a record of <paramref name="schema"/> belongs in an object of this schema version.</summary>
    public bool Holds(TableSchema? schema) =>
        schema is null || ReferenceEquals(schema, Table) || (Table is not null && schema.Json.AsSpan().SequenceEqual(Table.Json));

    private static Type ValueType(DataField field) => field switch
    {
        DecimalDataField => typeof(decimal),
        TimeDataField => typeof(long), // microseconds of the day
        DateTimeDataField => typeof(DateTime),
        _ => field.GetType().IsGenericType ? field.GetType().GetGenericArguments()[0] : field.ClrType,
    };

    private static DataField ColumnOf(FieldSchema f) => f.Kind switch
    {
        ValueKind.Boolean => new DataField<bool>(f.Name, true),
        ValueKind.Int16 => new DataField<short>(f.Name, true),
        ValueKind.Int32 => new DataField<int>(f.Name, true),
        ValueKind.Int64 => new DataField<long>(f.Name, true),
        ValueKind.Float32 => new DataField<float>(f.Name, true),
        ValueKind.Float64 => new DataField<double>(f.Name, true),
        ValueKind.Decimal when FitsDecimal(f) => new DecimalDataField(f.Name, f.Length!.Value, f.Scale ?? 0, isNullable: true),
        ValueKind.Bytes => new DataField<byte[]>(f.Name, true),
        ValueKind.Date => new DataField<DateOnly>(f.Name, true),
        ValueKind.Time => new TimeDataField(f.Name, TimeUnitPrecision.Micros, isNullable: true),
        ValueKind.Timestamp => new DateTimeDataField(f.Name, DateTimeFormat.Timestamp, isAdjustedToUTC: false, unit: DateTimeTimeUnit.Micros, isNullable: true),
        ValueKind.TimestampTz => new DateTimeDataField(f.Name, DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: true),
        // Decimals beyond .NET's decimal, unscaled numeric, uuid, json, arrays (their lake JSON) and text: strings.
        _ => new DataField<string>(f.Name, true),
    };

    // .NET's decimal holds 28 digits exactly; a wider numeric(p,s) is its exact text.
    private static bool FitsDecimal(FieldSchema f) => f.Length is > 0 and <= 28 && f.Scale is null or (>= 0 and <= 28) && (f.Scale ?? 0) <= f.Length;

    /// <summary>
    /// The record's cells in column order, as the columns take them. Throws <see cref="ArgumentOutOfRangeException"/>
    /// for a value its column cannot hold (a date or timestamp outside the years 0001..9999): that record's error.
    /// </summary>
    public object?[] Row(LakeRecord record)
    {
        var cells = new object?[_fields.Length];
        var tableFields = Table?.Fields.Count ?? 0;
        foreach (var field in record.Fields)
        {
            var i = Table?.IndexOf(field.Schema.Name) ?? -1;
            if (i < 0) continue; // a delete's key field of a schema this object does not have (cannot happen: Holds)
            cells[i] = field.Protected || field.Value is null ? field.Value : Cell(_fields[i], field.Schema, field.Value);
        }
        var m = record.Metadata;
        var c = tableFields;
        cells[c++] = record.Unchanged.Count > 0 ? JsonSerializer.Serialize(record.Unchanged) : null;
        cells[c++] = m.Op;
        cells[c++] = m.Table;
        cells[c++] = m.Key;
        cells[c++] = m.Epoch;
        cells[c++] = m.CommitLsn;
        cells[c++] = m.ChangeLsn;
        cells[c++] = m.TxIndex;
        cells[c++] = m.CommitTime is { } t ? DateTime.Parse(t, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal) : null;
        cells[c++] = m.Partition;
        cells[c++] = m.Offset;
        cells[c] = m.Deleted ? "true" : "false";
        return cells;
    }

    private static object Cell(DataField column, FieldSchema f, object value)
    {
        switch (f.Kind)
        {
            case ValueKind.Decimal when column is DecimalDataField:
                var d = (DecimalValue)value;
                return (decimal)d.Unscaled / (decimal)System.Numerics.BigInteger.Pow(10, d.Scale);
            case ValueKind.Date: return ConnectValueJson.ToDate((int)value);
            case ValueKind.Time:
                var micros = (long)value;
                ArgumentOutOfRangeException.ThrowIfGreaterThan(micros, MicrosPerDay);
                return micros;
            case ValueKind.Timestamp: return DateTime.SpecifyKind(ConnectValueJson.ToDateTime((long)value), DateTimeKind.Unspecified);
            case ValueKind.TimestampTz: return DateTime.SpecifyKind(ConnectValueJson.ToDateTime((long)value), DateTimeKind.Utc);
            case ValueKind.Boolean or ValueKind.Int16 or ValueKind.Int32 or ValueKind.Int64 or ValueKind.Float32 or ValueKind.Float64 or ValueKind.Bytes:
                return value;
            case ValueKind.String when value is string s: return s;
            default:
                // The value's lake JSON: exact decimal text, a uuid's text, an array as its JSON array.
                var buffer = new ArrayBufferWriter<byte>(64);
                using (var w = new Utf8JsonWriter(buffer, s_json)) LakeLines.WriteValue(w, f, value);
                var json = buffer.WrittenSpan;
                return json.Length > 1 && json[0] == (byte)'"' ? JsonSerializer.Deserialize<string>(json)! : System.Text.Encoding.UTF8.GetString(json);
        }
    }

    /// <summary>Writes the rows (from <see cref="Row"/>) as one Parquet file to <paramref name="output"/> (seekable).</summary>
    public async Task WriteAsync(Stream output, IReadOnlyList<object?[]> rows, CancellationToken ct)
    {
        await using var writer = await ParquetWriter.CreateAsync(Schema, output, new ParquetOptions { CompressionMethod = CompressionMethod.Zstd }, cancellationToken: ct);
        using var group = writer.CreateRowGroup();
        for (var i = 0; i < _fields.Length; i++)
        {
            var field = _fields[i];
            var column = i;
            var t = _types[i];
            if (t == typeof(string)) await group.WriteAsync(field, rows.Select(r => (string)r[column]!).ToArray());
            else if (t == typeof(byte[])) await group.WriteAsync(field, rows.Select(r => (byte[])r[column]!).ToArray());
            else if (t == typeof(bool)) await WriteAsync<bool>(group, field, rows, column, ct);
            else if (t == typeof(short)) await WriteAsync<short>(group, field, rows, column, ct);
            else if (t == typeof(int)) await WriteAsync<int>(group, field, rows, column, ct);
            else if (t == typeof(long)) await WriteAsync<long>(group, field, rows, column, ct);
            else if (t == typeof(float)) await WriteAsync<float>(group, field, rows, column, ct);
            else if (t == typeof(double)) await WriteAsync<double>(group, field, rows, column, ct);
            else if (t == typeof(decimal)) await WriteAsync<decimal>(group, field, rows, column, ct);
            else if (t == typeof(DateOnly)) await WriteAsync<DateOnly>(group, field, rows, column, ct);
            else if (t == typeof(DateTime)) await WriteAsync<DateTime>(group, field, rows, column, ct);
            else throw new InvalidOperationException($"column {field.Name} has the unexpected type {t.Name}");
        }
    }

    private static Task WriteAsync<T>(ParquetRowGroupWriter group, DataField field, IReadOnlyList<object?[]> rows, int column, CancellationToken ct)
        where T : struct =>
        group.WriteAsync<T>(field, (ReadOnlyMemory<T?>)rows.Select(r => r[column] is T v ? v : (T?)null).ToArray(), null, null, ct);
}
