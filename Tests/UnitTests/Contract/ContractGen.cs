using System.Numerics;
using CsCheck;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.UnitTests.Contract;

/// <summary>Generators of the contract's pieces: texts, fields of every kind with values of their kind, schemas.</summary>
internal static class ContractGen
{
    /// <summary>Valid Unicode text from pieces that trip encoders: quotes, escapes, control characters, non-BMP, the placeholder's look-alikes.</summary>
    public static readonly Gen<string> Text = Gen.OneOf(
            "a", "Z", "0", " ", "é", "東京", "😀", "\"", "\\", "\n", "\r", "\t", "\u0000", "\u001f", "<", "&", "'", "/", "\u2028", "\ufeff",
            "hmac-sha256:", "__debezium_unavailable", "{\"x\":1}", "null")
        .Array[0, 8].Select(string.Concat);

    public static readonly Gen<DecimalValue> Decimal =
        Gen.Select(Gen.Long, Gen.Byte[0, 3], Gen.Int[0, 24], (small, widen, scale) =>
            new DecimalValue(BigInteger.Pow(new BigInteger(small), widen + 1) * (small % 2 == 0 ? 1 : -1), scale));

    /// <summary>Microseconds since 1970 within the years 0001..9999 (what a timestamp with a zone can be written as).</summary>
    public static readonly Gen<long> Micros = Gen.Long[(DateTime.MinValue.Ticks - DateTime.UnixEpoch.Ticks) / 10, (DateTime.MaxValue.Ticks - DateTime.UnixEpoch.Ticks) / 10];

    private static readonly ValueKind[] s_scalarKinds = [.. Enum.GetValues<ValueKind>().Where(k => k != ValueKind.Array)];

    /// <summary>A value of the kind, in its .NET representation (never null).</summary>
    public static Gen<object> ValueOf(ValueKind kind, int scale = 0) => kind switch
    {
        ValueKind.Boolean => Gen.Bool.Select(v => (object)v),
        ValueKind.Int16 => Gen.Short.Select(v => (object)v),
        ValueKind.Int32 => Gen.Int.Select(v => (object)v),
        ValueKind.Int64 => Gen.Long.Select(v => (object)v),
        ValueKind.Float32 => Gen.Frequency((4, Gen.Float), (1, Gen.OneOf(float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, float.Epsilon))).Select(v => (object)v),
        ValueKind.Float64 => Gen.Frequency((4, Gen.Double), (1, Gen.OneOf(double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0d, double.Epsilon))).Select(v => (object)v),
        ValueKind.Decimal => Decimal.Select(d => (object)new DecimalValue(d.Unscaled, scale)),
        ValueKind.String or ValueKind.Json => Text.Select(v => (object)v),
        ValueKind.Bytes => Gen.Byte.Array[0, 40].Select(v => (object)v),
        ValueKind.Date => Gen.Int.Select(v => (object)v),
        ValueKind.Time => Gen.Long[0, 86_400_000_000L].Select(v => (object)v),
        ValueKind.Timestamp => Gen.Long.Select(v => (object)v),
        ValueKind.TimestampTz => Micros.Select(v => (object)v),
        ValueKind.Uuid => Gen.Guid.Select(v => (object)v),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>A field named <paramref name="name"/> of any kind (arrays of any scalar), optional or not, with or without a default.</summary>
    public static Gen<FieldSchema> Field(string name) =>
        from kind in Gen.Enum<ValueKind>()
        from itemKind in Gen.OneOf(s_scalarKinds)
        from optional in Gen.Bool
        from scale in Gen.Int[-3, 12]
        from length in Gen.Int[1, 1000].Nullable()
        from sourceType in Gen.OneOf("INT8", "TEXT", "NUMERIC", "_TEXT", "MY_DOMAIN").Null()
        from logical in Gen.OneOf(LogicalTypes.Interval, LogicalTypes.Enum, LogicalTypes.Xml, LogicalTypes.ZonedTime).Null()
        let items = kind == ValueKind.Array ? new FieldSchema(name, itemKind, Optional: true, Scale: itemKind == ValueKind.Decimal ? scale : null) : null
        let field = new FieldSchema(name, kind, optional, SourceType: sourceType, Length: length,
            Scale: kind == ValueKind.Decimal ? scale : null, Items: items, LogicalName: kind == ValueKind.String ? logical : null)
        from withDefault in Gen.Int[0, 3]
        from value in FieldValue(field)
        select withDefault == 0 && value is not null ? field with { Default = value } : field;

    /// <summary>A value for the field: null only when it is optional; an array holds values of its items (null among them).</summary>
    public static Gen<object?> FieldValue(FieldSchema field)
    {
        var value = field.Kind == ValueKind.Array
            ? ValueOf(field.Items!.Kind, field.Items.Scale ?? 0).Null(0.2).Array[0, 5].Select(a => (object)a)
            : ValueOf(field.Kind, field.Scale ?? 0);
        return field.Optional ? value.Null(0.2) : value.Select(v => (object?)v);
    }

    /// <summary>A table's schema: 1 to 8 fields of any kind, the first one or two of them the key.</summary>
    public static readonly Gen<TableSchema> Schema =
        from count in Gen.Int[1, 8]
        from fields in Enumerable.Range(0, count).Select(i => Field($"c{i}_{"äx"[i % 2]}")).ToArray().Transpose()
        from keys in Gen.Int[0, Math.Min(2, count)]
        from table in Gen.OneOf("public.users", "s.\"odd\" name", null)
        select new TableSchema(table, [.. fields.Select((f, i) => i < keys ? f with { IsKey = true, Optional = false, Default = null } : f)]);

    /// <summary>A schema and a row of values for it.</summary>
    public static readonly Gen<(TableSchema Schema, object?[] Values)> Row =
        from schema in Schema
        from values in schema.Fields.Select(FieldValue).ToArray().Transpose()
        select (schema, values);

    // Gen<T>[] -> Gen<T[]>: one value of each.
    private static Gen<T[]> Transpose<T>(this Gen<T>[] gens) =>
        gens.Aggregate(Gen.Const(Array.Empty<T>()), (acc, g) => Gen.Select(acc, g, (a, x) => (T[])[.. a, x]));

    /// <summary>Values compare by content (byte arrays, arrays of values), NaN equal to NaN.</summary>
    public static bool SameValue(object? a, object? b) => (a, b) switch
    {
        (null, null) => true,
        (byte[] x, byte[] y) => x.AsSpan().SequenceEqual(y),
        (object?[] x, object?[] y) => x.Length == y.Length && x.Zip(y).All(p => SameValue(p.First, p.Second)),
        _ => Equals(a, b),
    };
}
