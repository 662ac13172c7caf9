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
