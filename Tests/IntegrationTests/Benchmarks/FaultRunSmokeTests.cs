using KafkaPipeline.Benchmarks;
using KafkaPipeline.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace KafkaPipeline.IntegrationTests.Benchmarks;

/// <summary>
/// The short fault run (eng/faults.sh --quick; without --quick it runs every fault): a few faults on the test servers, each checked by the
/// run's own comparison of MySQL and the lake with PostgreSQL. The servers are shared with other tests, so their
/// restarts are left to the full run.
/// </summary>
public sealed class FaultRunSmokeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_killed_sink_a_frozen_source_and_sink_and_a_broker_down_lose_double_and_leave_stale_nothing()
    {
        var settings = new BenchmarkSettings
        {
            Postgres = TestServers.Postgres,
            MySql = TestServers.MySql,
            S3Url = TestServers.S3Url,
            LogDir = Path.Combine(Path.GetTempPath(), "kp-faults-smoke-" + Guid.NewGuid().ToString("N")[..8]),
        };
        var results = await new FaultRun(settings, new TestOutputWriter(output)).RunAsync(FaultRun.Short, CancellationToken.None);
        output.WriteLine(FaultReport.Table(results));

        Assert.Equal(["kill -9 MySqlSinkService", "SIGSTOP SourceService for 25 s", "SIGSTOP S3SinkService for 25 s", "Kafka broker down for 15 s"],
            results.Select(r => r.Fault));
        Assert.All(results, r =>
        {
            Assert.True(r.RowsChecked > 500, $"{r}");
            Assert.True(r.Clean, $"{r}");
        });
    }
}
