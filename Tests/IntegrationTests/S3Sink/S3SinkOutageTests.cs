using KafkaPipeline.IntegrationTests.Infrastructure;
using static KafkaPipeline.IntegrationTests.S3Sink.S3SinkTestKit;

namespace KafkaPipeline.IntegrationTests.S3Sink;

// S3 unreachable for the sink only (a TCP proxy switched off in front of the shared s3rver).
public sealed class S3SinkOutageTests
{
    [Fact]
    public async Task An_s3_outage_stores_and_commits_nothing_and_everything_arrives_once_after_it()
    {
        await using var kit = await CreateAsync();
        using var proxy = new TcpToggleProxy(new Uri(TestServers.S3Url));
        var sink = await kit.StartSinkAsync(new Dictionary<string, string> { ["FlushSize"] = "50", ["RotateInterval"] = "00:00:01" }, s3Url: proxy.Url);

        var before = kit.ProduceUsers(1, 100);
        await kit.WaitForRecordsAsync(before.Count);

        proxy.Down();
        var during = kit.ProduceUsers(101, 200);
        await kit.Kafka.WaitUntilAsync(() => kit.Logs.Count(Microsoft.Extensions.Logging.LogLevel.Warning, "Waiting for S3 at") >= 3, "three failed stores");
        var inOutage = await kit.ReadBucketAsync(skipIncomplete: true);
        Assert.Equal(before.Count, inOutage.Sum(o => o.Lines.Count));
        var committed = kit.Committed();
        foreach (var partition in Enumerable.Range(0, Sinks.SinkTestKit.Partitions))
        {
            var stored = inOutage.Where(o => o.Partition == partition).Select(o => o.EndOffset).DefaultIfEmpty(0).Max();
            Assert.True(committed.GetValueOrDefault(partition) <= stored,
                $"partition {partition}: committed {committed.GetValueOrDefault(partition)} beyond what is stored ({stored})");
        }

        proxy.Up();
        var all = before.Concat(during).ToDictionary();
        await kit.WaitForRecordsAsync(all.Count);
        await sink.StopAsync();
        AssertExactlyOnce(await kit.ReadBucketAsync(), all);
    }
}
