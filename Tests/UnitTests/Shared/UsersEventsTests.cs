using System.Text;
using System.Text.Json;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.UnitTests.Shared;

public sealed class UsersEventsTests
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
    public void The_value_is_connect_json_with_schema_whose_fields_are_the_columns_with_debezium_time_types()
    {
        using var doc = JsonDocument.Parse(UsersEvents.Value(s_user));
        var root = doc.RootElement;
        Assert.Equal(["schema", "payload"], root.EnumerateObject().Select(p => p.Name));
        var fields = root.GetProperty("schema").GetProperty("fields").EnumerateArray().ToList();
        Assert.Equal(UsersSchema.Columns, fields.Select(f => f.GetProperty("field").GetString()));
        var id = fields[0];
        Assert.Equal("int64", id.GetProperty("type").GetString());
        Assert.False(id.GetProperty("optional").GetBoolean());
        Assert.Equal("true", id.GetProperty("parameters").GetProperty(TableSchema.KeyParameter).GetString());
        Assert.Equal(LogicalTypes.Date, fields[6].GetProperty("name").GetString());
        Assert.Equal(LogicalTypes.ZonedTimestamp, fields[11].GetProperty("name").GetString());
        var payload = root.GetProperty("payload");
        Assert.Equal("2026-11-21T10:00:00.123456Z", payload.GetProperty("created_at").GetString());
        Assert.Equal(new DateOnly(1990, 2, 3).DayNumber - new DateOnly(1970, 1, 1).DayNumber, payload.GetProperty("birthdate").GetInt32());
        Assert.Equal(42, payload.GetProperty("id").GetInt64());
    }

    [Fact]
    public void Read_back_every_field_is_kept_to_the_microsecond()
    {
        var row = new ChangeEventReader().Read(UsersEvents.Value(s_user));
        var back = UsersEvents.ToUser(row);
        Assert.Equal(s_user, back);
        Assert.Equal(DateTimeKind.Utc, back.UpdatedAt.Kind);
        Assert.Equal("42"u8.ToArray(), EventKeys.Key(row.Schema, row.Values));
    }

    [Fact]
    public void Positions_order_by_timestamp_then_id()
    {
        var t = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        Assert.True(new SourcePosition(t, 9) < new SourcePosition(t, 10));
        Assert.True(new SourcePosition(t, 10) < new SourcePosition(t.AddTicks(10), 1));
        Assert.True(SourcePosition.Start < new SourcePosition(t, 1));
    }

    [Fact]
    public void The_schema_bytes_are_the_same_for_every_event_of_the_table()
    {
        var other = s_user with { Id = 7, Name = "Ada" };
        var a = UsersEvents.Value(s_user);
        var b = UsersEvents.Value(other);
        Assert.Equal(a[ChangeEventReader.Split(a).Schema], b[ChangeEventReader.Split(b).Schema]);
        Assert.Equal(Encoding.UTF8.GetString(UsersEvents.Schema.Json), Encoding.UTF8.GetString(a[ChangeEventReader.Split(a).Schema]));
    }
}
