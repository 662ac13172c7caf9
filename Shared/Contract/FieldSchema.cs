namespace KafkaPipeline.Shared.Contract;

/// <summary>
/// What a field's values are, as the change events carry them (Kafka Connect's type plus the logical type that says how
/// to read it). Each kind has one .NET representation (<see cref="FieldSchema"/>), used by every reader and writer.
/// </summary>
public enum ValueKind
{
    /// <summary>Connect boolean; <see cref="bool"/>.</summary>
    Boolean,
    /// <summary>Connect int16; <see cref="short"/>.</summary>
    Int16,
    /// <summary>Connect int32; <see cref="int"/>.</summary>
    Int32,
    /// <summary>Connect int64; <see cref="long"/>.</summary>
    Int64,
    /// <summary>Connect float32; <see cref="float"/> (NaN and infinities as the strings "NaN", "Infinity", "-Infinity").</summary>
    Float32,
    /// <summary>Connect float64; <see cref="double"/> (NaN and infinities as strings, as for float32).</summary>
    Float64,
    /// <summary>Connect Decimal (bytes: two's-complement big-endian unscaled value, parameter scale); <see cref="DecimalValue"/>.</summary>
    Decimal,
    /// <summary>Connect string; <see cref="string"/>.</summary>
    String,
    /// <summary>Connect bytes (base64 in JSON); <see cref="byte"/>[].</summary>
    Bytes,
    /// <summary>int32 io.debezium.time.Date: days since 1970-01-01; <see cref="int"/>.</summary>
    Date,
    /// <summary>int64 io.debezium.time.MicroTime: microseconds of the day; <see cref="long"/>.</summary>
    Time,
    /// <summary>int64 io.debezium.time.MicroTimestamp: microseconds since 1970-01-01 00:00, no time zone; <see cref="long"/>.</summary>
    Timestamp,
    /// <summary>string io.debezium.time.ZonedTimestamp: ISO-8601 in UTC with microseconds; <see cref="long"/> microseconds since the epoch.</summary>
    TimestampTz,
    /// <summary>string io.debezium.data.Uuid; <see cref="Guid"/>.</summary>
    Uuid,
    /// <summary>string io.debezium.data.Json: the document's text; <see cref="string"/>.</summary>
    Json,
    /// <summary>Connect array of <see cref="FieldSchema.Items"/>; <see cref="object"/>?[].</summary>
    Array,
}

/// <summary>
/// One field of a table's change events: its name, kind, whether it may be null and whether it is part of the key, and
/// what PostgreSQL type it came from (Debezium's column.propagate.source.type parameters: type name, length or
/// precision, scale), which a sink uses to choose a column type.
/// </summary>
/// <param name="Name">The column name.</param>
/// <param name="SourceType">The PostgreSQL type name in upper case ("INT8", "VARCHAR", "TIMESTAMPTZ", "_TEXT").</param>
/// <param name="Length">varchar/char length or numeric precision, when the column declares one.</param>
/// <param name="Scale">numeric scale, when the column declares one.</param>
/// <param name="Items">The element of an array.</param>
/// <param name="Default">The value rows written before the column existed have (a column added with a default), as the payload writes it.</param>
/// <param name="LogicalName">A Connect logical-type name beyond the kind's own (io.debezium.time.Interval, io.debezium.data.Enum, ...).</param>
public sealed record FieldSchema(
    string Name,
    ValueKind Kind,
    bool Optional = true,
    bool IsKey = false,
    string? SourceType = null,
    int? Length = null,
    int? Scale = null,
    FieldSchema? Items = null,
    object? Default = null,
    string? LogicalName = null)
{
    /// <summary>The Connect primitive type the JSON carries.</summary>
    public string ConnectType => Kind switch
    {
        ValueKind.Boolean => "boolean",
        ValueKind.Int16 => "int16",
        ValueKind.Int32 or ValueKind.Date => "int32",
        ValueKind.Int64 or ValueKind.Time or ValueKind.Timestamp => "int64",
        ValueKind.Float32 => "float32",
        ValueKind.Float64 => "float64",
        ValueKind.Decimal or ValueKind.Bytes => "bytes",
        ValueKind.Array => "array",
        _ => "string",
    };

    /// <summary>The Connect or Debezium logical-type name, or null for a plain primitive.</summary>
    public string? ConnectName => LogicalName ?? Kind switch
    {
        ValueKind.Decimal => LogicalTypes.Decimal,
        ValueKind.Date => LogicalTypes.Date,
        ValueKind.Time => LogicalTypes.MicroTime,
        ValueKind.Timestamp => LogicalTypes.MicroTimestamp,
        ValueKind.TimestampTz => LogicalTypes.ZonedTimestamp,
        ValueKind.Uuid => LogicalTypes.Uuid,
        ValueKind.Json => LogicalTypes.Json,
        _ => null,
    };

    /// <summary>Same name, kind, element and declared size: what a sink's column depends on (not optionality or default).</summary>
    public bool SameTypeAs(FieldSchema other) =>
        Kind == other.Kind && Length == other.Length && Scale == other.Scale && SourceType == other.SourceType
        && (Items is null ? other.Items is null : other.Items is not null && Items.SameTypeAs(other.Items));
}

/// <summary>The logical-type names the events use (Kafka Connect's and Debezium's).</summary>
public static class LogicalTypes
{
    public const string Decimal = "org.apache.kafka.connect.data.Decimal";
    public const string ConnectDate = "org.apache.kafka.connect.data.Date";
    public const string Date = "io.debezium.time.Date";
    public const string MicroTime = "io.debezium.time.MicroTime";
    public const string MicroTimestamp = "io.debezium.time.MicroTimestamp";
    public const string ZonedTimestamp = "io.debezium.time.ZonedTimestamp";
    public const string ZonedTime = "io.debezium.time.ZonedTime";
    public const string Interval = "io.debezium.time.Interval";
    public const string Uuid = "io.debezium.data.Uuid";
    public const string Json = "io.debezium.data.Json";
    public const string Xml = "io.debezium.data.Xml";
    public const string Enum = "io.debezium.data.Enum";

    /// <summary>Debezium's value for a large column an update left unchanged and did not send (unavailable.value.placeholder).</summary>
    public const string UnavailablePlaceholder = "__debezium_unavailable_value";
}
