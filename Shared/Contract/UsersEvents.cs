using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Postgres;

namespace KafkaPipeline.Shared;

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
