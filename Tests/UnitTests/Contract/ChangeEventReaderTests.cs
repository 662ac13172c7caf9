using System.Text;
using CsCheck;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.UnitTests.Contract;

public sealed class EventKeysTests
{
    private static readonly FieldSchema s_id = new("id", ValueKind.Int64, Optional: false, IsKey: true);

    [Fact]
    public void A_single_integer_text_or_uuid_key_is_its_plain_text()
    {
        Assert.Equal("42", Key(new TableSchema("t", [s_id, new FieldSchema("n", ValueKind.String)]), [42L, "x"]));
        Assert.Equal("Zoë", Key(new TableSchema("t", [new FieldSchema("k", ValueKind.String, Optional: false, IsKey: true)]), ["Zoë"]));
        var g = Guid.NewGuid();
        Assert.Equal(g.ToString("D"), Key(new TableSchema("t", [new FieldSchema("k", ValueKind.Uuid, Optional: false, IsKey: true)]), [g]));
    }

    [Fact]
    public void A_composite_key_or_a_key_of_another_type_is_a_compact_json_object_in_column_order()
    {
        var lines = new TableSchema("t", [new FieldSchema("order_id", ValueKind.Int32, Optional: false, IsKey: true), new FieldSchema("note", ValueKind.String),
            new FieldSchema("line", ValueKind.Int16, Optional: false, IsKey: true)]);
        Assert.Equal("{\"order_id\":7,\"line\":2}", Key(lines, [7, "n", (short)2]));
        Assert.Equal("{\"day\":-9731}", Key(new TableSchema("t", [new FieldSchema("day", ValueKind.Date, Optional: false, IsKey: true)]), [-9731]));
    }

    [Fact]
    public void A_table_without_a_key_has_no_key() =>
        Assert.Null(EventKeys.Key(new TableSchema("t", [new FieldSchema("n", ValueKind.String)]), ["x"]));

    [Fact]
    public void The_users_key_is_the_id_s_digits() =>
        Gen.Long[1, long.MaxValue].Sample(id =>
            Assert.Equal(UsersEvents.Key(id), EventKeys.Key(UsersEvents.Schema, UsersEvents.Values(new UserRecord { Id = id }))), threads: 1);

    private static string? Key(TableSchema schema, object?[] values) => EventKeys.Key(schema, values) is { } k ? Encoding.UTF8.GetString(k) : null;
}

public sealed class ChangeEventReaderTests
{
    private static readonly TableSchema s_docs = new("public.docs", [
        new FieldSchema("id", ValueKind.Int32, Optional: false, IsKey: true), new FieldSchema("body", ValueKind.String),
        new FieldSchema("blob", ValueKind.Bytes), new FieldSchema("title", ValueKind.String),
    ]);

    private static byte[] Event(TableSchema schema, string payload) =>
        Encoding.UTF8.GetBytes("{\"schema\":" + Encoding.UTF8.GetString(schema.Json) + ",\"payload\":" + payload + "}");

    [Fact]
    public void Any_row_reads_back_as_it_was_written() =>
        ContractGen.Row.Sample((schema, values) =>
        {
            var row = new ChangeEventReader().Read(ChangeEventWriter.ValueOf(schema, values));
            Assert.Equal(schema.Json, row.Schema.Json);
            Assert.False(row.HasUnchanged);
            for (var i = 0; i < values.Length; i++)
                Assert.True(ContractGen.SameValue(values[i], row.Values[i]), $"field {schema.Fields[i].Name} ({schema.Fields[i].Kind})");
        }, iter: 1000, threads: 1);

    [Fact]
    public void Each_distinct_schema_is_parsed_once_and_kept_by_its_bytes()
    {
        var reader = new ChangeEventReader();
        var first = reader.Read(Event(s_docs, "{\"id\":1}"));
        var second = reader.Read(Event(s_docs, "{\"id\":2,\"body\":\"b\"}"));
        Assert.Same(first.Schema, second.Schema);
        Assert.Equal(1, reader.CachedSchemas);
        reader.Read(UsersEvents.Value(new UserRecord { Id = 1 }));
        Assert.Equal(2, reader.CachedSchemas);
    }

    [Fact]
    public void The_cache_starts_over_when_a_stranger_s_topic_brings_too_many_schemas()
    {
        var reader = new ChangeEventReader(maxSchemas: 3);
        for (var i = 0; i < 5; i++)
            reader.Read(Event(new TableSchema($"public.t{i}", [new FieldSchema("id", ValueKind.Int32, Optional: false, IsKey: true)]), "{\"id\":1}"));
        Assert.InRange(reader.CachedSchemas, 1, 3);
    }

    [Theory]
    [InlineData("{\"id\":1,\"colour\":\"red\"}", "the payload has a field the schema does not list ('colour')")]
    [InlineData("{\"id\":1,\"body\":\"a\",\"body\":\"b\"}", "field 'body' appears twice in the payload")]
    [InlineData("{\"body\":\"a\"}", "field 'id' is missing from the payload but the schema does not allow null")]
    [InlineData("{\"id\":null}", "field 'id' (int32) is null but the schema does not allow null")]
    [InlineData("{\"id\":\"1\"}", "field 'id' (int32) is not an integer")]
    public void A_payload_that_does_not_fit_its_schema_is_an_invalid_record_naming_the_field(string payload, string message) =>
        Assert.Equal(message, Assert.Throws<InvalidRecordException>(() => new ChangeEventReader().Read(Event(s_docs, payload))).Message);

    [Theory]
    [InlineData("not json", "value is not valid JSON")]
    [InlineData("null", "value is not a JSON object")]
    [InlineData("[1]", "value is not a JSON object")]
    [InlineData("{\"payload\":{}}", "value has no schema")]
    [InlineData("{\"schema\":{\"type\":\"struct\",\"fields\":[]}}", "value has no payload")]
    [InlineData("{\"schema\":{\"type\":\"struct\",\"fields\":[]},\"payload\":null}", "the value's payload is null (a delete is a null value, not a null payload)")]
    [InlineData("{\"schema\":{\"type\":\"struct\",\"fields\":[]},\"payload\":{},\"extra\":1}", "value has members other than schema and payload")]
    [InlineData("{\"schema\":{\"type\":\"struct\",\"fields\":[]},\"payload\":{}} {}", "value is not")]
    [InlineData("{\"schema\":{\"type\":\"struct\",\"fields\":[]},\"payload\":{\"\\ud800\":1}}", "value holds text that is not valid Unicode")]
    public void A_value_that_is_not_kafka_connect_json_with_schema_is_an_invalid_record_saying_why(string value, string message) =>
        Assert.StartsWith(message, Assert.Throws<InvalidRecordException>(() => new ChangeEventReader().Read(Encoding.UTF8.GetBytes(value))).Message, StringComparison.Ordinal);

    [Fact]
    public void The_placeholder_in_a_text_field_and_the_fields_the_unchanged_header_names_are_unchanged()
    {
        var reader = new ChangeEventReader();
        var placeholder = reader.Read(Event(s_docs, $"{{\"id\":1,\"body\":\"{LogicalTypes.UnavailablePlaceholder}\",\"title\":\"t\"}}"));
        Assert.True(placeholder.IsUnchanged(1));
        Assert.Null(placeholder.Values[1]);
        Assert.False(placeholder.IsUnchanged(3));
        Assert.Equal("t", placeholder.Values[3]);

        // A bytes field's placeholder is base64 of the placeholder's bytes: only the header can say it is one.
        var value = ChangeEventWriter.ValueOf(s_docs, [1, null, null, "t"], new HashSet<int> { 2 });
        Assert.False(reader.Read(value).IsUnchanged(2));
        var named = reader.Read(value, ["blob", "no_such_column"]);
        Assert.True(named.IsUnchanged(2));
        Assert.Null(named.Values[2]);
        Assert.Equal([false, false, true, false], Enumerable.Range(0, 4).Select(named.IsUnchanged));
    }

    [Fact]
    public void Unchanged_fields_take_the_older_version_s_values()
    {
        var reader = new ChangeEventReader();
        var older = reader.Read(Event(s_docs, "{\"id\":1,\"body\":\"old body\",\"blob\":\"AQI=\",\"title\":\"t1\"}"));
        var newer = reader.Read(Event(s_docs, $"{{\"id\":1,\"body\":\"{LogicalTypes.UnavailablePlaceholder}\",\"title\":\"t2\"}}")).FillUnchangedFrom(older);
        Assert.False(newer.HasUnchanged);
        Assert.Equal("old body", newer["body"]);
        Assert.Equal("t2", newer["title"]);
    }
}
