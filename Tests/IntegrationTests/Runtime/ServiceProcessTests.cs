using KafkaPipeline.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace KafkaPipeline.IntegrationTests.Runtime;

// The test harness that runs built programs as separate processes, exercised with the EmbeddedKafka program.
public sealed class ServiceProcessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Program_started_as_a_process_stops_gracefully_on_sigterm()
    {
        var bootstrapFile = Path.Combine(Path.GetTempPath(), $"kp-bootstrap-{Guid.NewGuid():N}");
        await using var kafka = ServiceProcess.Start("EmbeddedKafka", new Dictionary<string, string?>(), output,
            "--brokers", "1", "--topic", "T:2", "--bootstrap-file", bootstrapFile);

        await kafka.WaitForOutputAsync("bootstrap=127.0.0.1:", Deadline);
        Assert.StartsWith("127.0.0.1:", (await File.ReadAllTextAsync(bootstrapFile)).Trim(), StringComparison.Ordinal);

        Assert.Equal(0, await kafka.StopAsync(Deadline));
        Assert.Contains("stopping", kafka.Output, StringComparison.Ordinal);
        File.Delete(bootstrapFile);
    }

    [Fact]
    public async Task Kill_ends_the_process_without_its_shutdown_code()
    {
        await using var kafka = ServiceProcess.Start("EmbeddedKafka", new Dictionary<string, string?>(), output);
        await kafka.WaitForOutputAsync("bootstrap=", Deadline);

        kafka.Kill();

        Assert.NotEqual(0, await kafka.WaitForExitAsync(Deadline));
        Assert.DoesNotContain("stopping", kafka.Output, StringComparison.Ordinal);
    }
}
