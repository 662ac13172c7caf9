using System.Diagnostics;
using Microsoft.Extensions.Configuration;

namespace KafkaPipeline.AppHost;

/// <summary>Where the pipeline's servers run: processes on this machine, or containers.</summary>
public enum PipelineRuntime
{
    Local,
    Containers,
}

internal static class PipelineRuntimes
{
    public const string Setting = "AppHost:Runtime";

    /// <summary>
    /// AppHost:Runtime = local | containers forces one; otherwise (auto) containers when publishing or when the container
    /// runtime answers `docker info` (podman with ASPIRE_CONTAINER_RUNTIME=podman), else local.
    /// </summary>
    public static PipelineRuntime Choose(IDistributedApplicationBuilder builder)
    {
        var setting = builder.Configuration[Setting] ?? "auto";
        var (runtime, why) = setting.ToLowerInvariant() switch
        {
            "local" => (PipelineRuntime.Local, $"{Setting}=local"),
            "containers" => (PipelineRuntime.Containers, $"{Setting}=containers"),
            "auto" when builder.ExecutionContext.IsPublishMode => (PipelineRuntime.Containers, "publishing"),
            "auto" => ContainerRuntimeAnswers(builder.Configuration["ASPIRE_CONTAINER_RUNTIME"] ?? "docker")
                ? (PipelineRuntime.Containers, "a container runtime answers")
                : (PipelineRuntime.Local, "no container runtime answers"),
            _ => throw new DistributedApplicationException($"{Setting} must be local, containers or auto (got '{setting}')."),
        };
        Console.WriteLine($"AppHost: runtime {runtime.ToString().ToLowerInvariant()} ({why})");
        return runtime;
    }

    private static bool ContainerRuntimeAnswers(string command)
    {
        try
        {
            using var probe = Process.Start(new ProcessStartInfo(command, "info")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
            if (probe is null) return false;
            _ = probe.StandardOutput.ReadToEndAsync();
            _ = probe.StandardError.ReadToEndAsync();
            if (!probe.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                probe.Kill(entireProcessTree: true);
                return false;
            }
            return probe.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // not installed
        }
    }
}
