using KafkaPipeline.Tests;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.MySqlSinkService;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Sinks;

namespace KafkaPipeline.UnitTests.MySqlSink;

public class NewestVersionTests
{
    private static readonly DateTime s_t0 = new(2025, 5, 1, 12, 0, 0, DateTimeKind.Utc);

    private static SinkRecord Record(long id, string name, int second, long offset, ulong lsn = 0, int partition = 0)
    {
        var user = new UserRecord { Id = id, Name = name, UpdatedAt = s_t0.AddSeconds(second) };
        var message = new ConsumeResult<byte[]?, byte[]?>
        {
            TopicPartitionOffset = new TopicPartitionOffset("P_USERS", partition, offset),
            Message = new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(id.ToString(CultureInfo.InvariantCulture)), Value = UsersEvents.Value(user) },
        };
        return TestRecords.Create(message, id, user, new SourceVersion(lsn, 0), user.UpdatedAt);
    }

    private static SinkRecord Delete(long id, long offset, ulong lsn) =>
        TestRecords.Create(new ConsumeResult<byte[]?, byte[]?> { TopicPartitionOffset = new TopicPartitionOffset("P_USERS", 0, offset), Message = new Message<byte[]?, byte[]?>() },
            id, null, new SourceVersion(lsn, 0), s_t0);

    [Fact]
    public void The_newest_version_of_each_id_wins_not_the_last_offset()
    {
        var newest = MySqlSinkTask.Newest([Record(5, "v2", 2, 10), Record(3, "x", 1, 11), Record(5, "v1", 1, 12)]);
        Assert.Equal([3L, 5L], newest.Keys);
        Assert.Equal("v2", newest[5].User!.Name);
    }

    [Fact]
    public void Lsn_orders_versions_when_both_have_one_and_a_delete_can_be_the_newest()
    {
        // updated_at would say otherwise: the LSN decides.
        Assert.Equal("lsn 20", MySqlSinkTask.Newest([Record(1, "lsn 20", 1, 0, lsn: 20), Record(1, "lsn 10", 5, 1, lsn: 10)])[1].User!.Name);
        Assert.True(MySqlSinkTask.Newest([Record(1, "lsn 20", 1, 0, lsn: 20), Delete(1, 1, lsn: 30)])[1].IsDelete);
        Assert.False(MySqlSinkTask.Newest([Delete(1, 0, lsn: 30), Record(1, "lsn 40", 1, 1, lsn: 40)])[1].IsDelete);
    }

    [Fact]
    public void Equal_versions_keep_the_later_record_and_ids_come_out_sorted()
    {
        Assert.Equal(11, MySqlSinkTask.Newest([Record(9, "a", 1, 10), Record(9, "b", 1, 11)])[9].Offset);
        var many = Enumerable.Range(0, 100).Select(i => Record(100 - (i % 37), $"n{i}", i, i, partition: i % 4));
        Assert.Equal(37, MySqlSinkTask.Newest(many).Count);
    }
}
