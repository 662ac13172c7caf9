using System.Diagnostics;

namespace KafkaPipeline.AppHost.Tests;

/// <summary>
/// A fact that needs a running container engine. Skipped (not failed) where `docker info` does not answer, e.g. on
/// the project's own machines; filter such tests out with --filter "Category!=RequiresDocker".
/// </summary>
public sealed class RequiresDockerFactAttribute : FactAttribute
{
    private static readonly Lazy<bool> s_dockerAvailable = new(IsDockerAvailable);

    public RequiresDockerFactAttribute()
    {
        if (!s_dockerAvailable.Value)
        {
            Skip = "Needs Docker (`docker info` failed or timed out).";
        }
    }

    private static bool IsDockerAvailable()
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("docker", "info --format {{.ServerVersion}}")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (process is null) return false;
            if (!process.WaitForExit(TimeSpan.FromSeconds(15)))
            {
                process.Kill(entireProcessTree: true);
                return false;
            }
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // no docker client on PATH
        }
    }
}
