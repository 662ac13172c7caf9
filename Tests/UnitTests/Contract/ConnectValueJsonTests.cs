using System.Buffers;
using System.Text;
using System.Text.Json;
using CsCheck;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.UnitTests.Contract;

public sealed class ConnectValueJsonTests
{
    private static byte[] Written(FieldSchema field, object? value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer)) ConnectValueJson.Write(w, field, value);
        return buffer.WrittenSpan.ToArray();
    }

    private static object? ReadBack(FieldSchema field, byte[] json)
    {
        var r = new Utf8JsonReader(json);
        r.Read();
        return ConnectValueJson.Read(ref r, field);
    }

    [Fact]
    public void Every_kind_s_values_read_back_as_they_were_written() =>
        (from name in Gen.Const("f")
         from field in ContractGen.Field(name)
         from value in ContractGen.FieldValue(field)
         select (field, value))
        .Sample((field, value) =>
        {
            var json = Written(field, value);
            var back = ReadBack(field, json);
            Assert.True(ContractGen.SameValue(value, back), $"{field.Kind}: {Encoding.UTF8.GetString(json)} read back differently");
        }, iter: 2000, threads: 1);

    [Fact]
    public void Each_kind_is_written_as_kafka_connect_s_json_converter_writes_it()
    {
        string W(ValueKind kind, object value, int? scale = null) => Encoding.UTF8.GetString(Written(new FieldSchema("f", kind, Scale: scale), value));
        Assert.Equal("\"AeI=\"", W(ValueKind.Decimal, new DecimalValue(482, 2), 2)); // 4.82: unscaled 482 = 0x01E2, big-endian two's complement
        Assert.Equal("\"/w==\"", W(ValueKind.Decimal, new DecimalValue(-1, 0), 0));
        Assert.Equal("\"NaN\"", W(ValueKind.Float64, double.NaN));
        Assert.Equal("\"-Infinity\"", W(ValueKind.Float32, float.NegativeInfinity));
        Assert.Equal("-9731", W(ValueKind.Date, -9731));
        Assert.Equal("\"2026-12-02T07:20:39.246000Z\"", W(ValueKind.TimestampTz, ConnectValueJson.FromDateTime(new DateTime(2026, 12, 2, 7, 20, 39, 246, DateTimeKind.Utc))));
        Assert.Equal("\"AAEC\"", W(ValueKind.Bytes, new byte[] { 0, 1, 2 }));
    }

    [Theory]
    [InlineData(ValueKind.Int32, "1.5", "is not an integer")]
    [InlineData(ValueKind.Int64, "1e400", "is not an integer")]
    [InlineData(ValueKind.Int16, "40000", "is outside the range of int16")]
    [InlineData(ValueKind.Int32, "\"7\"", "is not an integer")]
    [InlineData(ValueKind.Float64, "1e400", "is outside the range of float64")]
    [InlineData(ValueKind.Float32, "1e300", "is outside the range of float32")]
    [InlineData(ValueKind.Float64, "\"nan\"", "is not a number")]
    [InlineData(ValueKind.Boolean, "1", "is not a boolean")]
    [InlineData(ValueKind.Time, "86400000001", "is outside the range")]
    [InlineData(ValueKind.TimestampTz, "\"2026-02-30T00:00:00Z\"", "is not an ISO-8601 timestamp")]
    [InlineData(ValueKind.Uuid, "\"not-a-uuid\"", "is not a UUID")]
    [InlineData(ValueKind.Bytes, "\"***\"", "is not base64 text")]
    [InlineData(ValueKind.String, "\"\\ud800\"", "holds text that is not valid Unicode")]
    [InlineData(ValueKind.String, "12", "is not a string")]
    [InlineData(ValueKind.Array, "{}", "is not an array")]
    public void A_value_of_the_wrong_form_is_an_invalid_record_naming_the_field_and_the_problem(ValueKind kind, string json, string problem)
    {
        var field = new FieldSchema("f", kind, Items: kind == ValueKind.Array ? new FieldSchema("f", ValueKind.Int32) : null);
        var e = Assert.Throws<InvalidRecordException>(() => ReadBack(field, Encoding.UTF8.GetBytes(json)));
        Assert.StartsWith("field 'f' (", e.Message, StringComparison.Ordinal);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_null_is_refused_where_the_schema_does_not_allow_it() =>
        Assert.Contains("is null but the schema does not allow null",
            Assert.Throws<InvalidRecordException>(() => ReadBack(new FieldSchema("id", ValueKind.Int64, Optional: false), "null"u8.ToArray())).Message,
            StringComparison.Ordinal);

    [Fact]
    public void A_decimal_may_come_as_an_exact_number_and_one_with_more_decimal_places_than_its_scale_is_refused()
    {
        var field = new FieldSchema("p", ValueKind.Decimal, Scale: 2);
        Assert.Equal(new DecimalValue(1250, 2), ReadBack(field, "12.5"u8.ToArray()));
        Assert.Equal(new DecimalValue(120_000, 2), ReadBack(field, "1.2E+3"u8.ToArray()));
        Assert.Contains("has more than 2 decimal places", Assert.Throws<InvalidRecordException>(() => ReadBack(field, "1.005"u8.ToArray())).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_huge_number_in_a_decimal_field_is_read_without_exhausting_the_stack()
    {
        // 900,000 digits: the number's text must not be copied onto the stack (a stack overflow ends the process).
        var field = new FieldSchema("p", ValueKind.Decimal, Scale: 0);
        var json = Encoding.ASCII.GetBytes(new string('9', 900_000));
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                ReadBack(field, json);
            }
            catch (Exception e)
            {
                error = e;
            }
        }, maxStackSize: 1 << 20);
        thread.Start();
        thread.Join();
        Assert.IsType<InvalidRecordException>(error);
    }

    [Fact]
    public void Text_of_key_kinds_parses_back_to_the_value() =>
        Gen.OneOf(ValueKind.Int16, ValueKind.Int32, ValueKind.Int64, ValueKind.Date, ValueKind.Time, ValueKind.Timestamp, ValueKind.TimestampTz,
                ValueKind.Uuid, ValueKind.String, ValueKind.Decimal)
            .SelectMany(kind => ContractGen.ValueOf(kind).Select(value => (kind, value)))
            .Sample((kind, value) =>
            {
                var field = new FieldSchema("k", kind);
                Assert.True(ConnectValueJson.TryParseText(field, ConnectValueJson.ToText(field, value), out var back));
                Assert.True(ContractGen.SameValue(value, back) || (back is DecimalValue d && d.Rescale(((DecimalValue)value).Scale) == (DecimalValue)value),
                    $"{kind}: {value} -> {back}");
            }, iter: 1000, threads: 1);
}
