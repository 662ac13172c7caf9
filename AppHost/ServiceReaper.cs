using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KafkaPipeline.AppHost;

/// <summary>
/// Every service process of this run carries <see cref="Variable"/> = a run id. DCP stops a project through the
/// `dotnet run` that launched it; if that launcher died alone, the service lives on, re-parented and no longer tracked.
/// When the AppHost has stopped, this finds such a process by its run id (Linux: /proc/&lt;pid&gt;/environ) and ends it.
/// </summary>
internal static class ServiceReaper
{
    public const string Variable = "KAFKAPIPELINE_RUN";

    public static readonly string RunId = Guid.NewGuid().ToString("N");

    public static IDistributedApplicationBuilder AddServiceReaper(this IDistributedApplicationBuilder builder)
    {
        builder.Services.AddHostedService<Reaper>();
        return builder;
    }

    private sealed class Reaper(IHostApplicationLifetime lifetime, ILogger<Reaper> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.ApplicationStopped.Register(EndLeftovers);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        private void EndLeftovers()
        {
            if (!OperatingSystem.IsLinux()) return;
            foreach (var pid in ProcessesOfRun(RunId))
            {
                try
                {
                    using var process = Process.GetProcessById(pid);
                    logger.LogWarning("Service process {Pid} ({Name}) of this run outlived its launcher: ending it", pid, process.ProcessName);
                    process.Kill(entireProcessTree: true);
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    // ended meanwhile
                }
            }
        }
    }

    /// <summary>The processes whose environment carries <paramref name="runId"/>.</summary>
    public static IEnumerable<int> ProcessesOfRun(string runId)
    {
        var marker = System.Text.Encoding.UTF8.GetBytes($"{Variable}={runId}\0");
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId) continue;
            byte[] environ;
            try
            {
                environ = File.ReadAllBytes(Path.Combine(dir, "environ"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            if (environ.AsSpan().IndexOf(marker) >= 0) yield return pid;
        }
    }
}
