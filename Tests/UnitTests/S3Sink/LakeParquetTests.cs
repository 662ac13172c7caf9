using KafkaPipeline.S3SinkService;
using KafkaPipeline.Shared.Contract;
using Parquet;

namespace KafkaPipeline.UnitTests.S3Sink;

public sealed class LakeParquetTests
{
    private static readonly TableSchema s_schema = new("public.t", [new FieldSchema("id", ValueKind.Int64, Optional: false, IsKey: true), new FieldSchema("name", ValueKind.String)]);

    private static LakeRecord Record(long id, string? name, long offset) => new(
        [new LakeField(s_schema.Fields[0], id, false), new LakeField(s_schema.Fields[1], name, false)], [],
        new LakeMetadata("c", "public.t", id.ToString(System.Globalization.CultureInfo.InvariantCulture), null, "0/10", "0/8", 0, "2026-12-02T08:00:00.000001Z", 1, offset, false),
        s_schema);

    [Fact]
    public async Task Rows_written_are_read_back_with_their_values_and_row_count()
    {
        var layout = new LakeParquet(s_schema, _ => false);
        var rows = new List<object?[]> { layout.Row(Record(1, "a", 10)), layout.Row(Record(2, null, 11)), layout.Row(Record(3, "c", 12)) };
        using var file = new MemoryStream();
        await layout.WriteAsync(file, rows, CancellationToken.None);
        file.Position = 0;
        await using var reader = await ParquetReader.CreateAsync(file);
        Assert.Equal(1, reader.RowGroupCount);
        using var group = reader.OpenRowGroupReader(0);
        Assert.Equal(3, group.RowCount);
        Assert.Equal(layout.Schema.DataFields.Length, reader.Schema.DataFields.Length);
    }

    [Fact]
    public void A_record_of_another_schema_version_does_not_belong_in_the_object_a_delete_without_schema_does()
    {
        var layout = new LakeParquet(s_schema, _ => false);
        Assert.True(layout.Holds(new TableSchema("public.t", s_schema.Fields)));
        Assert.False(layout.Holds(new TableSchema("public.t", [.. s_schema.Fields, new FieldSchema("added", ValueKind.Int32)])));
        Assert.True(layout.Holds(null));
    }
}
