using KafkaPipeline.MySqlSinkService;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.UnitTests.MySqlSink;

public class TombstoneKeyTests
{
    private static readonly FieldSchema s_id = new("id", ValueKind.Int64, Optional: false, IsKey: true);
    private static readonly FieldSchema s_line = new("line", ValueKind.Int32, Optional: false, IsKey: true);

    [Fact]
    public void A_single_plain_key_is_its_text_and_any_other_a_json_object()
    {
        Assert.Equal([42L], MySqlSinkTask.ParseKey([s_id], "42"));
        Assert.Equal(["Ada"], MySqlSinkTask.ParseKey([s_id with { Kind = ValueKind.String }], "Ada"));
        Assert.Equal([7L, 2], MySqlSinkTask.ParseKey([s_id, s_line], "{\"line\":2,\"id\":7}"));
        var date = new FieldSchema("day", ValueKind.Date, Optional: false, IsKey: true);
        Assert.Equal([-400], MySqlSinkTask.ParseKey([date], "{\"day\":-400}"));
        // Known only from MySQL's DATETIME: a timestamptz key is ISO text.
        var at = new FieldSchema("at", ValueKind.Timestamp, Optional: false, IsKey: true);
        Assert.Equal([ConnectValueJson.FromDateTime(new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc))],
            MySqlSinkTask.ParseKey([at], "{\"at\":\"2026-01-02T03:04:05.000000Z\"}"));
    }

    [Theory]
    [InlineData("4x2")]
    [InlineData("")]
    public void A_key_that_is_not_the_key_columns_is_a_record_error(string key)
    {
        var e = Assert.Throws<InvalidRecordException>(() => MySqlSinkTask.ParseKey([s_id], key));
        Assert.Contains("key column 'id'", e.Message);
    }

    [Theory]
    [InlineData("{\"id\":7}")]
    [InlineData("{\"id\":7,\"line\":2,\"x\":1}")]
    [InlineData("{\"id\":7,\"id\":8}")]
    [InlineData("[7,2]")]
    [InlineData("{\"id\":\"seven\",\"line\":2}")]
    public void A_composite_key_missing_or_with_other_columns_is_a_record_error(string key)
    {
        var e = Assert.Throws<InvalidRecordException>(() => MySqlSinkTask.ParseKey([s_id, s_line], key));
        Assert.Contains("(id, line)", e.Message);
        Assert.DoesNotContain("seven", e.Message);
    }
}
