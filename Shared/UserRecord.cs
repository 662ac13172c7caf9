using System.Text.Json;
using System.Text.Json.Serialization;

namespace KafkaPipeline.Shared;

/// <summary>
/// One row of the PostgreSQL <c>users</c> table as it travels through Kafka (the value of a <c>P_USERS</c> message).
/// Field names are the column names; timestamps are ISO-8601 UTC, dates yyyy-MM-dd.
/// </summary>
public sealed record UserRecord
{
    [JsonPropertyName("id")] public long Id { get; init; }
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("username")] public string Username { get; init; } = "";
    [JsonPropertyName("sex")] public string Sex { get; init; } = "";
    [JsonPropertyName("address")] public string Address { get; init; } = "";
    [JsonPropertyName("mail")] public string Mail { get; init; } = "";
    [JsonPropertyName("birthdate")] public DateOnly Birthdate { get; init; }
    [JsonPropertyName("job")] public string Job { get; init; } = "";
    [JsonPropertyName("company")] public string Company { get; init; } = "";
    [JsonPropertyName("ssn")] public string Ssn { get; init; } = "";
    [JsonPropertyName("residence")] public string Residence { get; init; } = "";
    [JsonPropertyName("created_at")] public DateTime CreatedAt { get; init; }
    [JsonPropertyName("updated_at")] public DateTime UpdatedAt { get; init; }

    /// <summary>Position of this row version in the source's order: (updated_at, id).</summary>
    [JsonIgnore] public SourcePosition Position => new(UpdatedAt, Id);
}

/// <summary>Source-generated JSON for the record contract (no reflection on the hot path).</summary>
[JsonSourceGenerationOptions(
    Converters = [typeof(UtcDateTimeConverter), typeof(IsoDateOnlyConverter)],
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(UserRecord))]
public sealed partial class PipelineJson : JsonSerializerContext;

public static class UserRecordJson
{
    public static byte[] Serialize(UserRecord user) =>
        JsonSerializer.SerializeToUtf8Bytes(user, PipelineJson.Default.UserRecord);

    /// <summary>Parses and checks a message value; throws <see cref="InvalidRecordException"/> with the reason.</summary>
    public static UserRecord Deserialize(ReadOnlySpan<byte> utf8)
    {
        UserRecord? user;
        try
        {
            user = JsonSerializer.Deserialize(utf8, PipelineJson.Default.UserRecord);
        }
        catch (JsonException e)
        {
            throw new InvalidRecordException($"value is not a valid user JSON document: {e.Message}", e);
        }
        if (user is null) throw new InvalidRecordException("value is JSON null");
        if (user.Id <= 0) throw new InvalidRecordException($"field 'id' must be a positive integer, got {user.Id}");
        if (user.UpdatedAt == default) throw new InvalidRecordException("field 'updated_at' is missing");
        return user;
    }
}

/// <summary>A record that cannot be processed: it goes to the dead-letter topic with this message.</summary>
public sealed class InvalidRecordException : Exception
{
    public InvalidRecordException(string message) : base(message) { }
    public InvalidRecordException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Writes UTC as "yyyy-MM-ddTHH:mm:ss.ffffffZ" and reads any ISO-8601 form back as UTC.</summary>
public sealed class UtcDateTimeConverter : JsonConverter<DateTime>
{
    public override DateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.GetDateTimeOffset().UtcDateTime;

    public override void Write(Utf8JsonWriter writer, DateTime value, JsonSerializerOptions options) =>
        writer.WriteStringValue(DateTime.SpecifyKind(value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : value, DateTimeKind.Utc)
            .ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture));
}

public sealed class IsoDateOnlyConverter : JsonConverter<DateOnly>
{
    public override DateOnly Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DateOnly.ParseExact(reader.GetString() ?? "", "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    public override void Write(Utf8JsonWriter writer, DateOnly value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
}

/// <summary>Where the source is in the table: rows are read in (updated_at, id) order.</summary>
public readonly record struct SourcePosition(DateTime UpdatedAt, long Id) : IComparable<SourcePosition>
{
    public static readonly SourcePosition Start = new(DateTime.UnixEpoch, 0);

    public int CompareTo(SourcePosition other)
    {
        var c = UpdatedAt.CompareTo(other.UpdatedAt);
        return c != 0 ? c : Id.CompareTo(other.Id);
    }

    public static bool operator <(SourcePosition a, SourcePosition b) => a.CompareTo(b) < 0;
    public static bool operator >(SourcePosition a, SourcePosition b) => a.CompareTo(b) > 0;
    public static bool operator <=(SourcePosition a, SourcePosition b) => a.CompareTo(b) <= 0;
    public static bool operator >=(SourcePosition a, SourcePosition b) => a.CompareTo(b) >= 0;
}
