using System.Text;
using KafkaPipeline.Shared;

namespace KafkaPipeline.UnitTests.Shared;

public sealed class Murmur2PartitionerTests
{
    // Reference values of Kafka's Java client (org.apache.kafka.common.utils.Utils.murmur2), so keys land on the
    // partitions a Java producer would choose.
    [Theory]
    [InlineData("21", -973932308)]
    [InlineData("foobar", -790332482)]
    [InlineData("a-little-bit-long-string", -985981536)]
    [InlineData("a-little-bit-longer-string", -1486304829)]
    [InlineData("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971)]
    [InlineData("abc", 479470107)]
    public void Hash_matches_the_java_client(string key, int expected) =>
        Assert.Equal(expected, Murmur2Partitioner.Hash(Encoding.UTF8.GetBytes(key)));

    [Fact]
    public void Partitions_are_in_range_and_spread()
    {
        var counts = new int[4];
        for (var id = 1; id <= 10_000; id++)
        {
            var p = Murmur2Partitioner.Partition(Encoding.UTF8.GetBytes(id.ToString(System.Globalization.CultureInfo.InvariantCulture)), 4);
            counts[p]++;
        }
        Assert.All(counts, c => Assert.InRange(c, 2_000, 3_000));
    }
}
