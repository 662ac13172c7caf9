using System.Text.Json.Serialization;

namespace KafkaPipeline.Shared;

/// <summary>
/// One row of the Generator's PostgreSQL <c>users</c> table (<see cref="UsersSchema"/>): what the Generator writes and
/// the tests compare. On the topic it travels as a change event (<see cref="UsersEvents"/>).
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
