using KafkaPipeline.Tests;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Sinks;

namespace KafkaPipeline.UnitTests.Sinks;

public sealed class SinkRecordReaderTests
{
    private readonly SinkRecordReader _reader = new();

    private static ConsumeResult<byte[]?, byte[]?> Message(string? key, byte[]? value, Headers? headers = null, long offset = 0) => new()
    {
        TopicPartitionOffset = new TopicPartitionOffset("P_USERS", 0, offset),
        Message = new Message<byte[]?, byte[]?>
        {
            Key = key is null ? null : Encoding.UTF8.GetBytes(key), Value = value, Headers = headers ?? [],
            Timestamp = new Timestamp(new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc)),
        },
    };

    [Fact]
    public void A_user_record_carries_its_version_and_commit_time_from_the_change_headers()
    {
        var user = new UserRecord { Id = 42, Name = "Zoë", UpdatedAt = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc) };
        var headers = new Headers();
        var commit = new DateTime(2026, 1, 1, 0, 0, 1, DateTimeKind.Utc).AddTicks(10);
        ChangeHeaders.Write(headers, ChangeOp.Update, new SourceVersion(0x16B3748, 0x16B3700), commit);
        var r = _reader.Read(Message("42", UsersEvents.Value(user), headers));
        Assert.False(r.IsDelete);
        Assert.Equal(42, r.Id);
        Assert.Equal(new SourceVersion(0x16B3748, 0x16B3700), r.Version);
        Assert.Equal(commit, r.CommitTime);
        Assert.Equal(commit, r.VersionTime);
    }

    [Fact]
    public void A_tombstone_is_a_delete_of_the_key_s_id_timed_by_its_commit_or_else_by_kafka()
    {
        var delete = _reader.Read(Message("7", null));
        Assert.True(delete.IsDelete);
        Assert.Equal(7, delete.Id);
        Assert.False(delete.Version.HasLsn);
        Assert.Equal(new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc), delete.VersionTime);

        var headers = new Headers();
        ChangeHeaders.Write(headers, ChangeOp.Delete, new SourceVersion(500, 1), new DateTime(2026, 3, 1, 0, 0, 0, DateTimeKind.Utc));
        var withVersion = _reader.Read(Message("7", null, headers));
        Assert.Equal(new SourceVersion(500, 1), withVersion.Version);
        Assert.Equal(new DateTime(2026, 3, 1, 0, 0, 0, DateTimeKind.Utc), withVersion.VersionTime);
    }

    [Theory]
    [InlineData(null, null, "no key")]
    [InlineData("1", "", "empty")]
    [InlineData(null, "{}", "no key")]
    [InlineData("1", "{ not json", "not valid JSON")]
    [InlineData("1", "{\"id\":1,\"updated_at\":\"2024-01-01T00:00:00Z\"}", "schema")]
    public void What_is_neither_a_user_nor_a_delete_goes_to_the_dead_letter_topic_with_the_reason(string? key, string? value, string reason)
    {
        var (records, errant) = _reader.Read([Message(key, value is null ? null : Encoding.UTF8.GetBytes(value))]);
        Assert.Empty(records);
        var e = Assert.Single(errant);
        Assert.Equal("deserialize", e.Stage);
        Assert.Contains(reason, e.Error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"blob\"")]
    [InlineData("[null]")]
    [InlineData("[1]")]
    [InlineData("[\"blob\"")]
    public void A_header_of_unchanged_columns_that_is_not_a_list_of_names_makes_the_record_errant(string header)
    {
        // The placeholder of a bytes field is base64 of its bytes: only the header tells it from a value. Ignoring a
        // broken header would store those bytes as the column's value.
        var schema = new KafkaPipeline.Shared.Contract.TableSchema("public.docs", [
            new KafkaPipeline.Shared.Contract.FieldSchema("id", KafkaPipeline.Shared.Contract.ValueKind.Int32, Optional: false, IsKey: true),
            new KafkaPipeline.Shared.Contract.FieldSchema("blob", KafkaPipeline.Shared.Contract.ValueKind.Bytes)]);
        var value = KafkaPipeline.Shared.Contract.ChangeEventWriter.ValueOf(schema, [1, null], new HashSet<int> { 1 });
        var headers = new Headers { { ChangeHeaders.Unchanged, Encoding.UTF8.GetBytes(header) } };
        var (records, errant) = _reader.Read([Message("1", value, headers)]);
        Assert.Empty(records);
        Assert.Equal("the source.unchanged header is not a JSON array of column names", Assert.Single(errant).Error.Message);

        var named = _reader.Read(Message("1", value, new Headers { { ChangeHeaders.Unchanged, "[\"blob\"]"u8.ToArray() } }));
        Assert.True(named.Row!.IsUnchanged(1));
        var absent = _reader.Read(Message("1", value, new Headers { { ChangeHeaders.Unchanged, null } }));
        Assert.False(absent.Row!.IsUnchanged(1)); // a null header value is no header
    }

    [Fact]
    public void An_empty_text_key_is_the_key_of_the_row_whose_key_is_the_empty_string()
    {
        var schema = new KafkaPipeline.Shared.Contract.TableSchema("public.tags", [
            new KafkaPipeline.Shared.Contract.FieldSchema("tag", KafkaPipeline.Shared.Contract.ValueKind.String, Optional: false, IsKey: true)]);
        var reader = new SinkRecordReader();
        Assert.Equal("the record has no key (a row's key is its primary key)", Assert.Single(reader.Read([Message("", null)]).Errant).Error.Message);
        var row = reader.Read(Message("", KafkaPipeline.Shared.Contract.ChangeEventWriter.ValueOf(schema, [""])));
        Assert.Equal("", row.Key);
        Assert.Equal("", row.Row!.Values[0]);
        var headers = new Headers { { ChangeHeaders.Table, "public.tags"u8.ToArray() } };
        Assert.True(reader.Read(Message("", null, headers)).IsDelete);
        // Where the key is a number, an empty key still disagrees.
        Assert.Contains("does not match", Assert.Single(reader.Read([Message("", UsersEvents.Value(new UserRecord { Id = 1 }))]).Errant).Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Newer_compares_lsns_when_both_have_one_else_the_version_times()
    {
        var t = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        SinkRecord R(ulong lsn, int seconds) => TestRecords.Create(Message("1", null), 1, null, new SourceVersion(lsn, 0), t.AddSeconds(seconds));
        Assert.True(R(20, 0).IsNewerThan(R(10, 5)));
        Assert.False(R(10, 5).IsNewerThan(R(20, 0)));
        Assert.True(R(0, 5).IsNewerThan(R(20, 0)));   // one without LSN: by time
        Assert.False(R(10, 0).IsNewerThan(R(10, 0))); // equal is not newer
    }
}
