using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using static KafkaPipeline.IntegrationTests.S3Sink.S3SinkTestKit;

namespace KafkaPipeline.IntegrationTests.S3Sink;

// S3 unreachable for the sink only (a TCP proxy switched off in front of the shared s3rver).
public sealed class S3SinkOutageTests
{
    [Fact]
    public async Task An_s3_outage_stores_and_commits_nothing_and_everything_arrives_once_after_it()
    {
        using var kafka = EmbeddedKafkaCluster.Start();
        kafka.CreateTopic(Topic, Partitions);
        using var bucket = await TestServers.CreateS3BucketAsync("s3sink");
        using var proxy = new TcpToggleProxy(new Uri(TestServers.S3Url));
        using var producer = Producer(kafka.BootstrapServers);
        await using var sink = await StartSinkAsync(kafka.BootstrapServers, bucket, new Dictionary<string, string>
        {
            ["FlushSize"] = "50",
            ["RotateInterval"] = "00:00:01",
            ["RetryBackoffMax"] = "00:00:01",
        }, s3Url: proxy.Url);

        var before = ProduceUsers(producer, 1, 100);
        await WaitForRecordsAsync(bucket, before.Count);

        proxy.Down();
        var during = ProduceUsers(producer, 101, 200);
        // Several rotation intervals and PUT retries inside the outage (a wait for things to happen, not a speed check).
        await Task.Delay(TimeSpan.FromSeconds(5));
        var inOutage = await ReadBucketAsync(bucket, skipIncomplete: true);
        Assert.Equal(before.Count, inOutage.Sum(o => o.Lines.Count));
        var committed = Committed(kafka.BootstrapServers, "s3-sink");
        foreach (var partition in Enumerable.Range(0, Partitions))
        {
            var stored = inOutage.Where(o => o.Partition == partition).Select(o => o.EndOffset).DefaultIfEmpty(0).Max();
            Assert.True(committed.GetValueOrDefault(partition) <= stored,
                $"partition {partition}: committed {committed.GetValueOrDefault(partition)} beyond what is stored ({stored})");
        }

        proxy.Up();
        var all = before.Concat(during).ToDictionary();
        await WaitForRecordsAsync(bucket, all.Count);
        await sink.StopAsync();
        AssertExactlyOnce(await ReadBucketAsync(bucket), all);
    }
}
