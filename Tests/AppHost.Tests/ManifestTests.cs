using System.Diagnostics;
using System.Text.Json;

namespace KafkaPipeline.AppHost.Tests;

// The Aspire manifest (what aspirate turns into Kubernetes YAML), generated the way a user does:
// `dotnet run --project AppHost -- --publisher manifest --output-path <file>`.
public sealed class ManifestTests
{
    [Fact]
    public async Task The_manifest_describes_the_containers_runtime_with_pinned_images_secrets_and_no_bind_mounts()
    {
        var output = Path.Combine(Path.GetTempPath(), $"kp-manifest-{Guid.NewGuid():N}.json");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.Combine(LocalPipeline.RepositoryRoot(), "AppHost"),
        };
        foreach (var arg in new[] { "run", "--no-build", "--no-launch-profile", "--", "--publisher", "manifest", "--output-path", output })
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var log = Task.WhenAll(process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3)); // a bound on a loaded machine, not a speed check
        await process.WaitForExitAsync(cts.Token);
        Assert.True(process.ExitCode == 0, string.Join("\n", await log));

        using var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(output));
        File.Delete(output);
        var resources = manifest.RootElement.GetProperty("resources");
        string Type(string name) => resources.GetProperty(name).GetProperty("type").GetString()!;
        string? Image(string name) => resources.GetProperty(name).TryGetProperty("image", out var i) ? i.GetString() : null;

        Assert.Equal("docker.io/postgres:18.3", Image("postgres"));
        Assert.Equal("confluentinc/confluent-local:8.2.0", Image("kafka"));
        Assert.Equal("obsidiandynamics/kafdrop:4.2.0", Image("kafdrop"));
        Assert.Equal("mysql:9.7", Image("mysql"));
        Assert.Equal("localstack/localstack:4.12.0", Image("s3"));
        // The replication init script is a run-mode bind mount only: nothing a Kubernetes publisher would refuse.
        foreach (var r in resources.EnumerateObject())
            Assert.False(r.Value.TryGetProperty("bindMounts", out _), $"{r.Name} has a bind mount");
        foreach (var secret in new[] { "postgres-password", "mysql-password", "protection-key" })
        {
            Assert.Equal("parameter.v0", Type(secret));
            Assert.True(resources.GetProperty(secret).GetProperty("inputs").GetProperty("value").GetProperty("secret").GetBoolean());
        }
        foreach (var (service, stores) in new[]
        {
            ("generator", new[] { "usersdb" }), ("source", ["usersdb", "kafka"]), ("mysql-sink", ["kafka", "emaildb"]),
            ("s3-sink", ["kafka", "s3"]), ("monitor", ["usersdb", "kafka", "emaildb", "s3"]), ("dashboard", ["kafka"]),
        })
        {
            Assert.Equal("project.v0", Type(service));
            var env = resources.GetProperty(service).GetProperty("env");
            var connections = env.EnumerateObject().Where(p => p.Name.StartsWith("ConnectionStrings__", StringComparison.Ordinal)).Select(p => p.Name[19..]);
            Assert.Equal(stores.Order(), connections.Order());
            foreach (var store in stores) Assert.Equal($"{{{store}.connectionString}}", env.GetProperty($"ConnectionStrings__{store}").GetString());
        }
    }
}
