using System.Data.Common;
using KafkaPipeline.Shared;

namespace KafkaPipeline.IntegrationTests.Infrastructure;

/// <summary>
/// Reads a users row back from a store, columns in <see cref="UsersSchema.Columns"/> order from ordinal 0. The tests read
/// the stores with this rather than with the services' own mapping, so a mapping bug in a service cannot hide itself.
/// </summary>
public static class StoredUsers
{
    /// <summary>PostgreSQL: date and timestamptz columns (Npgsql returns UTC).</summary>
    public static UserRecord FromPostgres(DbDataReader reader) => Read(reader,
        i => reader.GetFieldValue<DateOnly>(i), i => reader.GetFieldValue<DateTime>(i));

    /// <summary>MySQL: DATE and DATETIME(6) columns holding UTC wall-clock values.</summary>
    public static UserRecord FromMySql(DbDataReader reader) => Read(reader,
        i => DateOnly.FromDateTime(reader.GetDateTime(i)), i => DateTime.SpecifyKind(reader.GetDateTime(i), DateTimeKind.Utc));

    /// <summary>MySQL, a subset of the columns (a sink that keeps only some): those named, in that order; the others default.</summary>
    public static UserRecord FromMySql(DbDataReader reader, IReadOnlyList<string> columns)
    {
        var u = new UserRecord();
        for (var i = 0; i < columns.Count; i++)
        {
            u = columns[i] switch
            {
                "id" => u with { Id = reader.GetInt64(i) },
                "name" => u with { Name = reader.GetString(i) },
                "username" => u with { Username = reader.GetString(i) },
                "sex" => u with { Sex = reader.GetString(i) },
                "address" => u with { Address = reader.GetString(i) },
                "mail" => u with { Mail = reader.GetString(i) },
                "birthdate" => u with { Birthdate = DateOnly.FromDateTime(reader.GetDateTime(i)) },
                "job" => u with { Job = reader.GetString(i) },
                "company" => u with { Company = reader.GetString(i) },
                "ssn" => u with { Ssn = reader.GetString(i) },
                "residence" => u with { Residence = reader.GetString(i) },
                "created_at" => u with { CreatedAt = DateTime.SpecifyKind(reader.GetDateTime(i), DateTimeKind.Utc) },
                "updated_at" => u with { UpdatedAt = DateTime.SpecifyKind(reader.GetDateTime(i), DateTimeKind.Utc) },
                _ => u,
            };
        }
        return u;
    }

    /// <summary>The record with only <paramref name="columns"/> kept, the others at their defaults (as <see cref="FromMySql(DbDataReader, IReadOnlyList{string})"/> reads them).</summary>
    public static UserRecord Keep(UserRecord u, IReadOnlyList<string> columns) => new()
    {
        Id = columns.Contains("id") ? u.Id : 0,
        Name = columns.Contains("name") ? u.Name : "",
        Username = columns.Contains("username") ? u.Username : "",
        Sex = columns.Contains("sex") ? u.Sex : "",
        Address = columns.Contains("address") ? u.Address : "",
        Mail = columns.Contains("mail") ? u.Mail : "",
        Birthdate = columns.Contains("birthdate") ? u.Birthdate : default,
        Job = columns.Contains("job") ? u.Job : "",
        Company = columns.Contains("company") ? u.Company : "",
        Ssn = columns.Contains("ssn") ? u.Ssn : "",
        Residence = columns.Contains("residence") ? u.Residence : "",
        CreatedAt = columns.Contains("created_at") ? u.CreatedAt : default,
        UpdatedAt = columns.Contains("updated_at") ? u.UpdatedAt : default,
    };

    private static UserRecord Read(DbDataReader reader, Func<int, DateOnly> date, Func<int, DateTime> utc) => new()
    {
        Id = reader.GetInt64(0),
        Name = reader.GetString(1),
        Username = reader.GetString(2),
        Sex = reader.GetString(3),
        Address = reader.GetString(4),
        Mail = reader.GetString(5),
        Birthdate = date(6),
        Job = reader.GetString(7),
        Company = reader.GetString(8),
        Ssn = reader.GetString(9),
        Residence = reader.GetString(10),
        CreatedAt = utc(11),
        UpdatedAt = utc(12),
    };
}
