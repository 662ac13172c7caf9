using System.Text;
using CsCheck;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.UnitTests.Contract;

public sealed class TableSchemaTests
{
    [Fact]
    public void A_schema_parses_back_from_its_json_to_the_same_fields() =>
        ContractGen.Schema.Sample(schema =>
        {
            var parsed = TableSchema.Parse(schema.Json);
            Assert.Equal(Encoding.UTF8.GetString(schema.Json), Encoding.UTF8.GetString(parsed.Json));
            Assert.Equal(schema.Table, parsed.Table);
            Assert.Equal(schema.KeyIndexes, parsed.KeyIndexes);
            Assert.Equal(schema.Fields.Count, parsed.Fields.Count);
            foreach (var (expected, actual) in schema.Fields.Zip(parsed.Fields))
            {
                // Defaults are values (arrays, bytes): compared by content; everything else as the record.
                Assert.True(ContractGen.SameValue(expected.Default, actual.Default), $"default of {expected.Name}");
                Assert.Equal(expected with { Default = null }, actual with { Default = null });
            }
        }, iter: 1000, threads: 1);

    [Fact]
    public void The_users_schema_names_the_table_and_its_key_and_every_field_s_postgresql_type()
    {
        var json = Encoding.UTF8.GetString(UsersEvents.Schema.Json);
        Assert.StartsWith("{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":false,\"parameters\":{\"__debezium.source.column.type\":\"INT8\",\"__kafkapipeline.key\":\"true\"},\"field\":\"id\"}", json);
        Assert.EndsWith("],\"optional\":false,\"name\":\"kafkapipeline.public.users.Value\"}", json);
        Assert.Equal("public.users", TableSchema.Parse(UsersEvents.Schema.Json).Table);
    }

    [Theory]
    [InlineData("[]", "not a struct")]
    [InlineData("{\"type\":\"struct\"}", "has no fields")]
    [InlineData("{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\"}]}", "has no name")]
    [InlineData("{\"type\":\"struct\",\"fields\":[{\"field\":\"a\"}]}", "field 'a' of the value's schema has no type")]
    [InlineData("{\"type\":\"struct\",\"fields\":[{\"type\":\"map\",\"field\":\"a\"}]}", "which the pipeline does not carry")]
    [InlineData("{\"type\":\"struct\",\"fields\":[{\"type\":\"array\",\"field\":\"a\"}]}", "has no items schema")]
    [InlineData("{\"type\":\"struct\",\"fields\":[{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"int32\"}},\"field\":\"a\"}]}", "array of arrays")]
    [InlineData("{\"type\":\"struct\",\"fields\":[{\"type\":\"bytes\",\"name\":\"org.apache.kafka.connect.data.Decimal\",\"field\":\"a\"}]}", "has no scale")]
    [InlineData("{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"field\":\"a\"},{\"type\":\"int32\",\"field\":\"a\"}]}", "appears twice")]
    [InlineData("{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"field\":\"a\",\"default\":\"x\"}]}", "is not an integer")]
    [InlineData("{\"type\":\"struct\",\"fields\":[", "not valid JSON")]
    // A scale beyond PostgreSQL's (-1000..1000) would make every value of the field gigabytes long when written out.
    [InlineData("{\"type\":\"struct\",\"fields\":[{\"type\":\"bytes\",\"name\":\"org.apache.kafka.connect.data.Decimal\",\"parameters\":{\"scale\":\"2147483647\"},\"field\":\"a\"}]}", "scale")]
    [InlineData("{\"type\":\"struct\",\"fields\":[{\"type\":\"bytes\",\"name\":\"org.apache.kafka.connect.data.Decimal\",\"parameters\":{\"scale\":\"-5000\"},\"field\":\"a\"}]}", "scale")]
    public void A_schema_the_pipeline_cannot_use_is_an_invalid_record_saying_why(string json, string why)
    {
        var e = Assert.Throws<InvalidRecordException>(() => TableSchema.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
    }
}
