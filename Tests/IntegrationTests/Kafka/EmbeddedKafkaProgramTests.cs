using System.Diagnostics;
using Confluent.Kafka;
using static KafkaPipeline.IntegrationTests.Kafka.KafkaTestClients;

namespace KafkaPipeline.IntegrationTests.Kafka;

/// <summary>The EmbeddedKafka program as ./run.sh uses it: a separate process, stopped with SIGTERM.</summary>
public sealed class EmbeddedKafkaProgramTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("embedded-kafka-").FullName;
    private Process? _process;

    [Fact]
    public async Task The_program_publishes_its_bootstrap_serves_topics_and_exits_zero_on_SIGTERM()
    {
        var bootstrapFile = Path.Combine(_dir, "sub", "bootstrap");
        _process = StartProgram("--topic", "T:3", "--topic", "P_USERS.dlq:1", "--bootstrap-file", bootstrapFile);
        var stdout = _process.StandardOutput.ReadToEndAsync();
        var stderr = _process.StandardError.ReadToEndAsync();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!File.Exists(bootstrapFile))
        {
            if (_process.HasExited)
                Assert.Fail($"program exited early ({_process.ExitCode}): {await stderr}");
            Assert.True(DateTime.UtcNow < deadline, "bootstrap file not written in time");
            await Task.Delay(100);
        }
        var bootstrap = (await File.ReadAllTextAsync(bootstrapFile)).Trim();
        Assert.Matches(@"^127\.0\.0\.1:\d+$", bootstrap);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(bootstrapFile)!, "*.tmp"));

        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build())
        {
            var topics = admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics;
            Assert.Equal(3, Assert.Single(topics, t => t.Topic == "T").Partitions.Count);
            Assert.Single(Assert.Single(topics, t => t.Topic == "P_USERS.dlq").Partitions);
        }

        using (var producer = IdempotentProducer(bootstrap))
        {
            var sent = await producer.ProduceAsync("T", new Message<string, string> { Key = "hello", Value = "world" });
            Assert.Equal(PersistenceStatus.Persisted, sent.Status);
        }
        var received = Assert.Single(ReadAll(bootstrap, "T", 3));
        Assert.Equal(("hello", "world"), (received.Message.Key, received.Message.Value));

        SendSigterm(_process.Id);
        Assert.True(_process.WaitForExit(TimeSpan.FromSeconds(30)), "program did not stop on SIGTERM");
        Assert.Equal(0, _process.ExitCode);
        Assert.Contains($"bootstrap={bootstrap}", await stdout, StringComparison.Ordinal);
        Assert.Contains("topic T partitions=3", await stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--topic", "T")]
    [InlineData("--topic", "T:0")]
    [InlineData("--brokers", "zero")]
    [InlineData("--bogus")]
    [InlineData("--bootstrap-file")]
    public async Task Bad_arguments_exit_with_two_and_say_why(params string[] args)
    {
        _process = StartProgram(args);
        var stderr = await _process.StandardError.ReadToEndAsync();
        Assert.True(_process.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal(2, _process.ExitCode);
        Assert.Contains("usage: EmbeddedKafka", stderr, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (_process is { HasExited: false })
            _process.Kill(entireProcessTree: true);
        _process?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static Process StartProgram(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "EmbeddedKafka.dll");
        Assert.True(File.Exists(dll), $"{dll} not found next to the tests");
        // The dotnet host running these tests (DOTNET_HOST_PATH is set by the SDK); plain "dotnet" otherwise.
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        return Process.Start(info) ?? throw new InvalidOperationException("could not start EmbeddedKafka");
    }

    // Process.Kill sends SIGKILL; the program must be shown to handle a real SIGTERM.
    private static void SendSigterm(int pid)
    {
        using var kill = Process.Start("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }
}
