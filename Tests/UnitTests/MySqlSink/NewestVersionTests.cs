using KafkaPipeline.Tests;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.MySqlSinkService;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Sinks;

namespace KafkaPipeline.UnitTests.MySqlSink;

public class NewestVersionTests
{
    private static readonly DateTime s_t0 = new(2025, 5, 1, 12, 0, 0, DateTimeKind.Utc);

    private static ConsumeResult<byte[]?, byte[]?> Message(long id, long offset, int partition = 0) => new()
    {
        TopicPartitionOffset = new TopicPartitionOffset("P_USERS", partition, offset),
        Message = new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(id.ToString(CultureInfo.InvariantCulture)) },
    };

    private static SinkRecord Record(long id, string name, int second, long offset, ulong lsn = 0, int partition = 0)
    {
        var user = new UserRecord { Id = id, Name = name, UpdatedAt = s_t0.AddSeconds(second) };
        return TestRecords.Create(Message(id, offset, partition), id, user, new SourceVersion(lsn, 0), user.UpdatedAt);
    }

    private static SinkRecord Delete(long id, long offset, ulong lsn) => TestRecords.Create(Message(id, offset), id, null, new SourceVersion(lsn, 0), s_t0);

    [Fact]
    public void The_newest_version_of_each_key_wins_not_the_last_offset()
    {
        var newest = MySqlSinkTask.Newest([Record(5, "v2", 2, 10), Record(3, "x", 1, 11), Record(5, "v1", 1, 12)]);
        Assert.Equal(["5", "3"], newest.Keys);
        Assert.Equal("v2", newest["5"].User!.Name);
    }

    [Fact]
    public void Lsn_orders_versions_when_both_have_one_and_a_delete_can_be_the_newest()
    {
        // updated_at would say otherwise: the LSN decides.
        Assert.Equal("lsn 20", MySqlSinkTask.Newest([Record(1, "lsn 20", 1, 0, lsn: 20), Record(1, "lsn 10", 5, 1, lsn: 10)])["1"].User!.Name);
        Assert.True(MySqlSinkTask.Newest([Record(1, "lsn 20", 1, 0, lsn: 20), Delete(1, 1, lsn: 30)])["1"].IsDelete);
        Assert.False(MySqlSinkTask.Newest([Delete(1, 0, lsn: 30), Record(1, "lsn 40", 1, 1, lsn: 40)])["1"].IsDelete);
    }

    [Fact]
    public void Equal_versions_keep_the_later_record()
    {
        Assert.Equal(11, MySqlSinkTask.Newest([Record(9, "a", 1, 10), Record(9, "b", 1, 11)])["9"].Offset);
        var many = Enumerable.Range(0, 100).Select(i => Record(100 - (i % 37), $"n{i}", i, i, partition: i % 4));
        Assert.Equal(37, MySqlSinkTask.Newest(many).Count);
    }

    [Fact]
    public void A_higher_epoch_is_newer_whatever_its_lsn()
    {
        static SinkRecord InEpoch(long epoch, ulong lsn, long offset) => Record(1, $"epoch {epoch}", 1, offset, lsn) with
        {
            Source = new ChangeSource(null, null, new SourceEpoch(epoch, 7, 1, 0), new SourceVersion(lsn, 0), null, null, s_t0),
        };
        Assert.Equal("epoch 2", MySqlSinkTask.Newest([InEpoch(2, 10, 0), InEpoch(1, 5000, 1)])["1"].User!.Name);
    }

    [Fact]
    public void The_newest_version_takes_the_columns_it_left_unchanged_from_the_version_before_it()
    {
        var schema = UsersEvents.Schema;
        var address = schema.IndexOf("address");
        SinkRecord Version(int n, long offset, bool addressUnchanged)
        {
            var values = UsersEvents.Values(new UserRecord { Id = 1, Name = $"v{n}", Address = $"address {n}" });
            var unchanged = new bool[schema.Fields.Count];
            unchanged[address] = addressUnchanged;
            return new SinkRecord(Message(1, offset), "1", new RowImage(schema, values, addressUnchanged ? unchanged : null),
                new ChangeSource(null, null, default, new SourceVersion((ulong)(100 + n), 0), null, null, s_t0));
        }
        var newest = MySqlSinkTask.Newest([Version(1, 0, false), Version(2, 1, true), Version(3, 2, true)])["1"];
        Assert.Equal("v3", newest.User!.Name);
        Assert.Equal("address 1", newest.User!.Address);
        Assert.False(newest.Row!.HasUnchanged);

        // Nothing older in the batch: the column stays unchanged (MySQL keeps what it has).
        Assert.True(MySqlSinkTask.Newest([Version(2, 1, true)])["1"].Row!.IsUnchanged(address));
        // An older version that comes later (a replay) fills nothing.
        Assert.True(MySqlSinkTask.Newest([Version(3, 2, true), Version(1, 3, false)])["1"].Row!.IsUnchanged(address));
    }
}
