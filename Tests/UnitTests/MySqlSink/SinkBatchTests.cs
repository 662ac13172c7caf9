using System.Text;
using Confluent.Kafka;
using KafkaPipeline.MySqlSinkService;
using KafkaPipeline.Shared;

namespace KafkaPipeline.UnitTests.MySqlSink;

public class SinkBatchTests
{
    private static readonly DateTime s_t0 = new(2025, 5, 1, 12, 0, 0, DateTimeKind.Utc);

    private static UserRecord User(long id, string name, int secondsAfterT0) => new()
    {
        Id = id, Name = name, Username = "u", Sex = "M", Address = "a", Mail = "m", Birthdate = new DateOnly(2000, 1, 1),
        Job = "j", Company = "c", Ssn = "s", Residence = "r", CreatedAt = s_t0, UpdatedAt = s_t0.AddSeconds(secondsAfterT0),
    };

    private static ConsumeResult<byte[]?, byte[]?> Message(int partition, long offset, byte[]? value) => new()
    {
        TopicPartitionOffset = new TopicPartitionOffset("P_USERS", partition, offset),
        Message = new Message<byte[]?, byte[]?> { Key = null, Value = value },
    };

    private static PendingRow Row(int partition, long offset, UserRecord user) =>
        new(Message(partition, offset, UserRecordJson.Serialize(user)), user);

    [Fact]
    public void Last_offset_of_an_id_wins_within_a_partition()
    {
        var rows = new[]
        {
            Row(0, 10, User(5, "first", 1)),
            Row(0, 11, User(3, "other", 1)),
            Row(0, 12, User(5, "second", 2)),
            // An older updated_at at a later offset still wins: Kafka's order of a key is the partition's order.
            Row(0, 13, User(5, "third", 0)),
        };
        var kept = SinkBatch.LastVersionWins(rows);
        Assert.Equal([3L, 5L], kept.Select(r => r.User.Id));
        Assert.Equal("third", kept.Single(r => r.User.Id == 5).User.Name);
        Assert.Equal(13, kept.Single(r => r.User.Id == 5).Source.Offset.Value);
    }

    [Fact]
    public void Across_partitions_the_newer_version_wins()
    {
        var kept = SinkBatch.LastVersionWins([Row(1, 50, User(9, "newer", 5)), Row(2, 1, User(9, "older", 4))]);
        Assert.Equal("newer", Assert.Single(kept).User.Name);
    }

    [Fact]
    public void Result_is_sorted_by_id_and_unique()
    {
        var rows = Enumerable.Range(0, 100).Select(i => Row(i % 4, i, User(100 - (i % 37), $"n{i}", i))).ToList();
        var kept = SinkBatch.LastVersionWins(rows);
        Assert.Equal(kept.Select(r => r.User.Id).Distinct().Order(), kept.Select(r => r.User.Id));
        Assert.Equal(37, kept.Count);
    }

    [Fact]
    public void Parse_rejects_bad_values_with_the_reason_and_keeps_the_rest()
    {
        var batch = new SinkBatch();
        batch.Add(Message(0, 0, UserRecordJson.Serialize(User(1, "ok", 0))));
        batch.Add(Message(0, 1, Encoding.UTF8.GetBytes("{not json")));
        batch.Add(Message(1, 0, Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(UserRecordJson.Serialize(User(1, "zero", 0))).Replace("\"id\":1", "\"id\":0", StringComparison.Ordinal))));
        batch.Add(Message(1, 1, null));
        batch.Add(Message(1, 2, UserRecordJson.Serialize(User(2, "ok2", 0))));

        var (rows, rejected) = batch.Parse();
        Assert.Equal([1L, 2L], rows.Select(r => r.User.Id));
        Assert.Equal(3, rejected.Count);
        Assert.All(rejected, r => Assert.Equal("deserialize", r.Stage));
        Assert.Contains("not a valid user JSON", rejected[0].Error.Message);
        Assert.Contains("'id' must be a positive integer", rejected[1].Error.Message);
        Assert.Contains("tombstone", rejected[2].Error.Message);
    }

    [Fact]
    public void Next_offsets_are_one_past_the_last_record_of_each_partition_and_revoked_partitions_are_dropped()
    {
        var batch = new SinkBatch();
        batch.Add(Message(0, 4, null));
        batch.Add(Message(1, 7, null));
        batch.Add(Message(0, 5, null));
        batch.Add(Message(2, 0, null));
        Assert.Equal(
            [("P_USERS", 0, 6L), ("P_USERS", 1, 8L), ("P_USERS", 2, 1L)],
            batch.NextOffsets().Select(o => (o.Topic, o.Partition.Value, o.Offset.Value)).OrderBy(t => t.Item2));

        batch.Drop([new TopicPartition("P_USERS", 0)]);
        Assert.Equal(2, batch.Count);
        Assert.DoesNotContain(batch.NextOffsets(), o => o.Partition.Value == 0);
    }
}
