using System.Text;
using System.Text.Json;
using KafkaPipeline.Shared;

namespace KafkaPipeline.UnitTests.Shared;

public sealed class UserRecordJsonTests
{
    private static readonly UserRecord s_user = new()
    {
        Id = 42,
        Name = "Zoë O'Brien 🎉",
        Username = "zoe",
        Sex = "F",
        Address = "1 Main St, Springfield 12345",
        Mail = "zoe@example.com",
        Birthdate = new DateOnly(1990, 2, 3),
        Job = "Engineer",
        Company = "ACME",
        Ssn = "123-45-6789",
        Residence = "Ireland",
        CreatedAt = new DateTime(2026, 11, 21, 10, 0, 0, DateTimeKind.Utc).AddTicks(1234560),
        UpdatedAt = new DateTime(2026, 11, 21, 10, 0, 1, DateTimeKind.Utc),
    };

    [Fact]
    public void Field_names_are_the_column_names_and_timestamps_are_iso_utc()
    {
        var json = Encoding.UTF8.GetString(UserRecordJson.Serialize(s_user));
        using var doc = JsonDocument.Parse(json);
        var names = doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(UsersSchema.Columns, names);
        Assert.Equal("2026-11-21T10:00:00.123456Z", doc.RootElement.GetProperty("created_at").GetString());
        Assert.Equal("1990-02-03", doc.RootElement.GetProperty("birthdate").GetString());
        Assert.Equal(42, doc.RootElement.GetProperty("id").GetInt64());
    }

    [Fact]
    public void Round_trip_keeps_every_field_to_the_microsecond()
    {
        var back = UserRecordJson.Deserialize(UserRecordJson.Serialize(s_user));
        Assert.Equal(s_user, back);
        Assert.Equal(DateTimeKind.Utc, back.UpdatedAt.Kind);
    }

    [Fact]
    public void Offsets_in_timestamps_are_read_as_utc()
    {
        var json = """{"id":1,"updated_at":"2026-11-21T12:00:00+02:00","created_at":"2026-11-21T12:00:00+02:00","birthdate":"2000-01-01"}""";
        var user = UserRecordJson.Deserialize(Encoding.UTF8.GetBytes(json));
        Assert.Equal(new DateTime(2026, 11, 21, 10, 0, 0, DateTimeKind.Utc), user.UpdatedAt);
    }

    [Theory]
    [InlineData("not json", "not a valid user JSON")]
    [InlineData("null", "JSON null")]
    [InlineData("""{"id":0,"updated_at":"2026-11-21T10:00:00Z"}""", "'id' must be a positive")]
    [InlineData("""{"id":5}""", "'updated_at' is missing")]
    [InlineData("""{"id":"x","updated_at":"2026-11-21T10:00:00Z"}""", "not a valid user JSON")]
    public void Malformed_values_are_rejected_with_the_reason(string value, string reason)
    {
        var e = Assert.Throws<InvalidRecordException>(() => UserRecordJson.Deserialize(Encoding.UTF8.GetBytes(value)));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Positions_order_by_timestamp_then_id()
    {
        var t = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        Assert.True(new SourcePosition(t, 9) < new SourcePosition(t, 10));
        Assert.True(new SourcePosition(t, 10) < new SourcePosition(t.AddTicks(10), 1));
        Assert.True(SourcePosition.Start < new SourcePosition(t, 1));
    }
}
