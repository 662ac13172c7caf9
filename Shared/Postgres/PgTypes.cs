using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.Shared.Postgres;

/// <summary>How a PostgreSQL type's binary form (the send function's output: pgoutput's binary mode, binary COPY) is read.</summary>
public enum PgBinaryFormat
{
    Bool, Int2, Int4, Int8, Oid, Float4, Float8, Numeric, Text, Char, Bytea, Jsonb, Date, Time, TimeTz, Timestamp, TimestampTz,
    Interval, Uuid, Array,
}

/// <summary>A PostgreSQL type the pipeline carries: its name, how to read its binary form, and for an array its element.</summary>
/// <param name="Name">pg_type.typname ("int8", "varchar", "_text", or a user type's name).</param>
/// <param name="LogicalName">The Debezium logical name for types carried as text (enum, interval, xml, timetz).</param>
/// <param name="TypeModifier">A domain's own modifier (varchar(n) of a domain over varchar): used when the column has none.</param>
public sealed record PgType(uint Oid, string Name, PgBinaryFormat Format, PgType? Element = null, string? LogicalName = null, int TypeModifier = -1)
{
    public bool IsArray => Format == PgBinaryFormat.Array;
}

/// <summary>
/// PostgreSQL types -> the events' fields, and their binary values -> the fields' .NET values. The mapping (documented in
/// docs, "Type mapping") follows Debezium's PostgreSQL connector where Connect's own types lose precision.
/// Types not listed here (and not an enum, a domain over one of them, or a one-dimensional array of one) are not carried:
/// <see cref="PgTypeCatalog"/> reports them as unsupported and the source leaves such a column out of the events.
/// </summary>
public static class PgTypes
{
    private static readonly Dictionary<uint, PgType> s_builtIn = Build();

    private static Dictionary<uint, PgType> Build()
    {
        var scalars = new (uint Oid, string Name, PgBinaryFormat Format, uint ArrayOid, string? Logical)[]
        {
            (16, "bool", PgBinaryFormat.Bool, 1000, null),
            (17, "bytea", PgBinaryFormat.Bytea, 1001, null),
            (18, "char", PgBinaryFormat.Char, 1002, null),
            (19, "name", PgBinaryFormat.Text, 1003, null),
            (20, "int8", PgBinaryFormat.Int8, 1016, null),
            (21, "int2", PgBinaryFormat.Int2, 1005, null),
            (23, "int4", PgBinaryFormat.Int4, 1007, null),
            (25, "text", PgBinaryFormat.Text, 1009, null),
            (26, "oid", PgBinaryFormat.Oid, 1028, null),
            (114, "json", PgBinaryFormat.Text, 199, null),
            (142, "xml", PgBinaryFormat.Text, 143, LogicalTypes.Xml),
            (700, "float4", PgBinaryFormat.Float4, 1021, null),
            (701, "float8", PgBinaryFormat.Float8, 1022, null),
            (1042, "bpchar", PgBinaryFormat.Text, 1014, null),
            (1043, "varchar", PgBinaryFormat.Text, 1015, null),
            (1082, "date", PgBinaryFormat.Date, 1182, null),
            (1083, "time", PgBinaryFormat.Time, 1183, null),
            (1114, "timestamp", PgBinaryFormat.Timestamp, 1115, null),
            (1184, "timestamptz", PgBinaryFormat.TimestampTz, 1185, null),
            (1186, "interval", PgBinaryFormat.Interval, 1187, LogicalTypes.Interval),
            (1266, "timetz", PgBinaryFormat.TimeTz, 1270, LogicalTypes.ZonedTime),
            (1700, "numeric", PgBinaryFormat.Numeric, 1231, null),
            (2950, "uuid", PgBinaryFormat.Uuid, 2951, null),
            (3802, "jsonb", PgBinaryFormat.Jsonb, 3807, null),
        };
        var types = new Dictionary<uint, PgType>();
        foreach (var (oid, name, format, arrayOid, logical) in scalars)
        {
            var scalar = new PgType(oid, name, format, LogicalName: logical);
            types[oid] = scalar;
            types[arrayOid] = new PgType(arrayOid, "_" + name, PgBinaryFormat.Array, scalar);
        }
        return types;
    }

    /// <summary>A built-in type by its OID (fixed in every PostgreSQL cluster), or null.</summary>
    public static PgType? BuiltIn(uint oid) => s_builtIn.GetValueOrDefault(oid);

    /// <summary>
    /// The event field of a column: name, kind, the PostgreSQL type (with its declared length or precision and scale from
    /// the type modifier) and whether it is part of the key. Key fields are not optional; every other field is (pgoutput
    /// does not say which columns are NOT NULL, and a sink's column must accept what any later version of the table allows).
    /// </summary>
    public static FieldSchema Field(string column, PgType type, int typeModifier, bool isKey, object? defaultValue = null)
    {
        var (kind, length, scale) = KindOf(type, typeModifier >= 0 ? typeModifier : type.TypeModifier);
        var items = type.Element is { } element ? Field(column, element, -1, false) with { Optional = true } : null;
        return new FieldSchema(column, kind, Optional: !isKey, IsKey: isKey, SourceType: type.Name.ToUpperInvariant(),
            Length: length, Scale: scale, Items: items, Default: defaultValue, LogicalName: type.LogicalName);
    }

    private static (ValueKind, int?, int?) KindOf(PgType type, int typmod) => type.Format switch
    {
        PgBinaryFormat.Bool => (ValueKind.Boolean, null, null),
        PgBinaryFormat.Int2 => (ValueKind.Int16, null, null),
        PgBinaryFormat.Int4 => (ValueKind.Int32, null, null),
        PgBinaryFormat.Int8 or PgBinaryFormat.Oid => (ValueKind.Int64, null, null),
        PgBinaryFormat.Float4 => (ValueKind.Float32, null, null),
        PgBinaryFormat.Float8 => (ValueKind.Float64, null, null),
        // numeric(p,s) is an exact Connect Decimal; numeric without a declared scale has no fixed scale, which a Connect
        // Decimal needs: it travels as its exact decimal text (Debezium's decimal.handling.mode=string).
        PgBinaryFormat.Numeric when typmod >= 4 => (ValueKind.Decimal, ((typmod - 4) >> 16) & 0xffff, NumericScale(typmod)),
        PgBinaryFormat.Numeric => (ValueKind.String, null, null),
        PgBinaryFormat.Bytea => (ValueKind.Bytes, null, null),
        PgBinaryFormat.Date => (ValueKind.Date, null, null),
        PgBinaryFormat.Time => (ValueKind.Time, null, null),
        PgBinaryFormat.Timestamp => (ValueKind.Timestamp, null, null),
        PgBinaryFormat.TimestampTz => (ValueKind.TimestampTz, null, null),
        PgBinaryFormat.Uuid => (ValueKind.Uuid, null, null),
        PgBinaryFormat.Jsonb => (ValueKind.Json, null, null),
        PgBinaryFormat.Text when type.Name == "json" => (ValueKind.Json, null, null),
        PgBinaryFormat.Text when type.Name is "varchar" or "bpchar" && typmod >= 4 => (ValueKind.String, typmod - 4, null),
        PgBinaryFormat.Array => (ValueKind.Array, null, null),
        _ => (ValueKind.String, null, null),
    };

    // PostgreSQL 15 allows a negative scale: the low 11 bits, sign-extended.
    private static int NumericScale(int typmod) => (((typmod - 4) & 0x7ff) ^ 1024) - 1024;

    private static readonly long s_pgEpochMicros = (new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks - DateTime.UnixEpoch.Ticks) / 10;
    private const int PgEpochDays = 10_957; // 2000-01-01 - 1970-01-01

    /// <summary>
    /// The .NET value (<see cref="ValueKind"/>'s representation) of a binary value of <paramref name="type"/> for a field
    /// of <paramref name="field"/>'s kind. Values no field can represent (numeric NaN or infinity in a Decimal field, an
    /// infinite date or timestamp, a multi-dimensional array) throw <see cref="UnrepresentableValueException"/>.
    /// </summary>
    public static object Decode(PgType type, FieldSchema field, ReadOnlySpan<byte> data)
    {
        switch (type.Format)
        {
            case PgBinaryFormat.Bool: return data[0] != 0;
            case PgBinaryFormat.Int2: return BinaryPrimitives.ReadInt16BigEndian(data);
            case PgBinaryFormat.Int4: return BinaryPrimitives.ReadInt32BigEndian(data);
            case PgBinaryFormat.Int8: return BinaryPrimitives.ReadInt64BigEndian(data);
            case PgBinaryFormat.Oid: return (long)BinaryPrimitives.ReadUInt32BigEndian(data);
            case PgBinaryFormat.Float4: return BinaryPrimitives.ReadSingleBigEndian(data);
            case PgBinaryFormat.Float8: return BinaryPrimitives.ReadDoubleBigEndian(data);
            case PgBinaryFormat.Numeric:
            {
                var value = DecodeNumeric(data);
                if (field.Kind == ValueKind.Decimal) return value is DecimalValue d ? d.Rescale(field.Scale ?? d.Scale) : throw new UnrepresentableValueException((string)value);
                return value.ToString()!;
            }
            case PgBinaryFormat.Text: return Encoding.UTF8.GetString(data);
            case PgBinaryFormat.Char: return data.Length == 0 ? "" : ((char)data[0]).ToString();
            case PgBinaryFormat.Bytea: return data.ToArray();
            case PgBinaryFormat.Jsonb: return Encoding.UTF8.GetString(data[1..]); // version byte 1, then the text
            case PgBinaryFormat.Date:
            {
                var days = BinaryPrimitives.ReadInt32BigEndian(data);
                if (days is int.MaxValue or int.MinValue) throw new UnrepresentableValueException(days > 0 ? "infinity" : "-infinity");
                return days + PgEpochDays;
            }
            case PgBinaryFormat.Time: return BinaryPrimitives.ReadInt64BigEndian(data);
            case PgBinaryFormat.TimeTz:
            {
                // Microseconds of the local time, then the zone's offset in seconds west of UTC: written in UTC.
                var local = BinaryPrimitives.ReadInt64BigEndian(data);
                var west = BinaryPrimitives.ReadInt32BigEndian(data[8..]);
                var utc = ((local + west * 1_000_000L) % 86_400_000_000L + 86_400_000_000L) % 86_400_000_000L;
                return TimeSpan.FromTicks(utc * 10).ToString(@"hh\:mm\:ss\.ffffff", CultureInfo.InvariantCulture) + "Z";
            }
            case PgBinaryFormat.Timestamp:
            case PgBinaryFormat.TimestampTz:
            {
                var micros = BinaryPrimitives.ReadInt64BigEndian(data);
                if (micros is long.MaxValue or long.MinValue) throw new UnrepresentableValueException(micros > 0 ? "infinity" : "-infinity");
                return micros + s_pgEpochMicros;
            }
            case PgBinaryFormat.Interval:
                return IsoInterval(BinaryPrimitives.ReadInt64BigEndian(data), BinaryPrimitives.ReadInt32BigEndian(data[8..]),
                    BinaryPrimitives.ReadInt32BigEndian(data[12..]));
            case PgBinaryFormat.Uuid: return new Guid(data, bigEndian: true);
            case PgBinaryFormat.Array: return DecodeArray(type, field, data);
            default: throw new InvalidOperationException($"no decoder for {type.Name}");
        }
    }

    /// <summary>PostgreSQL's binary numeric: digit count, weight (of the first base-10000 digit), sign, display scale, digits.</summary>
    private static object DecodeNumeric(ReadOnlySpan<byte> data)
    {
        var ndigits = BinaryPrimitives.ReadInt16BigEndian(data);
        var weight = BinaryPrimitives.ReadInt16BigEndian(data[2..]);
        var sign = BinaryPrimitives.ReadUInt16BigEndian(data[4..]);
        var dscale = BinaryPrimitives.ReadInt16BigEndian(data[6..]);
        switch (sign)
        {
            case 0xC000: return "NaN";
            case 0xD000: return "Infinity";
            case 0xF000: return "-Infinity";
        }
        var n = BigInteger.Zero;
        for (var i = 0; i < ndigits; i++) n = n * 10_000 + BinaryPrimitives.ReadInt16BigEndian(data[(8 + 2 * i)..]);
        // value = n * 10000^(weight - ndigits + 1); as an unscaled value at dscale: n * 10^(4 * (weight - ndigits + 1) + dscale).
        var shift = 4 * (weight - ndigits + 1) + dscale;
        var unscaled = shift >= 0 ? n * BigInteger.Pow(10, shift) : n / BigInteger.Pow(10, -shift);
        return new DecimalValue(sign == 0x4000 ? -unscaled : unscaled, dscale);
    }

    private static object?[] DecodeArray(PgType type, FieldSchema field, ReadOnlySpan<byte> data)
    {
        var dimensions = BinaryPrimitives.ReadInt32BigEndian(data);
        if (dimensions == 0) return [];
        if (dimensions > 1) throw new UnrepresentableValueException($"a {dimensions}-dimensional array");
        var count = BinaryPrimitives.ReadInt32BigEndian(data[12..]);
        var items = new object?[count];
        var at = 20; // dimensions, has-nulls flag, element OID, then (size, lower bound) of the one dimension
        for (var i = 0; i < count; i++)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(data[at..]);
            at += 4;
            if (length < 0) continue; // NULL element
            items[i] = Decode(type.Element!, field.Items!, data.Slice(at, length));
            at += length;
        }
        return items;
    }

    /// <summary>ISO-8601 duration, as Debezium's interval.handling.mode=string writes it ("P1Y2M3DT4H5M6.5S").</summary>
    private static string IsoInterval(long micros, int days, int months)
    {
        var sb = new StringBuilder("P");
        sb.Append(CultureInfo.InvariantCulture, $"{months / 12}Y{months % 12}M{days}DT");
        var hours = micros / 3_600_000_000L;
        var minutes = micros / 60_000_000L % 60;
        var seconds = micros % 60_000_000L / 1_000_000m;
        sb.Append(CultureInfo.InvariantCulture, $"{hours}H{minutes}M{seconds.ToString("0.######", CultureInfo.InvariantCulture)}S");
        return sb.ToString();
    }
}

/// <summary>A value PostgreSQL holds that the event's field type cannot represent (NaN in a decimal, an infinite date).</summary>
public sealed class UnrepresentableValueException(string what) : Exception($"{what} has no representation in the event's field type")
{
    public string What { get; } = what;
}
