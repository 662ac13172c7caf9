using System.Text.Json.Serialization;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Postgres;

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

/// <summary>
/// The users table's change events as the source writes them for the Generator's table (<see cref="UsersSchema"/>):
/// the schema the source builds from its relation message, and a row's values in it. For the Generator's tests,
/// benchmarks and tools that produce or read users events without a source; the source itself builds every table's
/// schema from PostgreSQL (and a test checks it gives these same bytes).
/// </summary>
public static class UsersEvents
{
    private static readonly (string Column, uint Oid)[] s_columns =
    [
        ("id", 20), ("name", 25), ("username", 25), ("sex", 25), ("address", 25), ("mail", 25), ("birthdate", 1082),
        ("job", 25), ("company", 25), ("ssn", 25), ("residence", 25), ("created_at", 1184), ("updated_at", 1184),
    ];

    /// <summary>The schema of public.users (or another table of the same columns).</summary>
    public static TableSchema SchemaFor(string table = "users", string schema = "public") =>
        new($"{schema}.{table}", [.. s_columns.Select(c => PgTypes.Field(c.Column, PgTypes.BuiltIn(c.Oid)!, -1, isKey: c.Column == "id"))]);

    public static readonly TableSchema Schema = SchemaFor();

    /// <summary>The row's values in <see cref="Schema"/>'s field order.</summary>
    public static object?[] Values(UserRecord u) =>
    [
        u.Id, u.Name, u.Username, u.Sex, u.Address, u.Mail, ConnectValueJson.FromDate(u.Birthdate), u.Job, u.Company, u.Ssn, u.Residence,
        ConnectValueJson.FromDateTime(u.CreatedAt), ConnectValueJson.FromDateTime(u.UpdatedAt),
    ];

    /// <summary>The event value of a users row (Kafka Connect's JSON with schema).</summary>
    public static byte[] Value(UserRecord u) => ChangeEventWriter.ValueOf(Schema, Values(u));

    /// <summary>The message key: the id's digits.</summary>
    public static byte[] Key(long id) => System.Text.Encoding.UTF8.GetBytes(id.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>A row read back as a users row (fields the row lacks or holds null stay at their defaults).</summary>
    public static UserRecord ToUser(RowImage row)
    {
        string Text(string f) => row[f] as string ?? "";
        DateTime Time(string f) => row[f] is long micros ? DateTime.SpecifyKind(ConnectValueJson.ToDateTime(micros), DateTimeKind.Utc) : default;
        return new UserRecord
        {
            Id = row["id"] is long id ? id : 0,
            Name = Text("name"),
            Username = Text("username"),
            Sex = Text("sex"),
            Address = Text("address"),
            Mail = Text("mail"),
            Birthdate = row["birthdate"] is int days ? ConnectValueJson.ToDate(days) : default,
            Job = Text("job"),
            Company = Text("company"),
            Ssn = Text("ssn"),
            Residence = Text("residence"),
            CreatedAt = Time("created_at"),
            UpdatedAt = Time("updated_at"),
        };
    }
}

/// <summary>A record that cannot be processed: it goes to the dead-letter topic with this message (never a field's value).</summary>
public sealed class InvalidRecordException : Exception
{
    public InvalidRecordException(string message) : base(message) { }
    public InvalidRecordException(string message, Exception inner) : base(message, inner) { }
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
