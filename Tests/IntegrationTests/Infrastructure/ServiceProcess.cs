using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace KafkaPipeline.IntegrationTests.Infrastructure;

/// <summary>
/// A built service (SourceService, MySqlSinkService, ...) run as a separate OS process with <c>dotnet Name.dll</c>,
/// so tests can kill it hard or stop it gracefully like a real deployment would. Its stdout/stderr lines go to
/// <see cref="Output"/> and, when given, live to the test's output (xUnit shows it for failed tests).
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();
    private readonly ITestOutputHelper? testOutput;

    private ServiceProcess(string name, Process process, ITestOutputHelper? testOutput)
    {
        Name = name;
        Label = name;
        this.process = process;
        this.testOutput = testOutput;
    }

    public string Name { get; }

    /// <summary>The prefix of its lines in the test output (the name, or e.g. "MySqlSinkService#2" for a replica).</summary>
    public string Label { get; set; }
    public int Id => process.Id;
    public bool HasExited => process.HasExited;
    public int ExitCode => process.ExitCode;

    /// <summary>Everything the process wrote so far (stdout and stderr, one line each).</summary>
    public string Output
    {
        get { lock (output) return output.ToString(); }
    }

    /// <summary>
    /// Starts <c>dotnet {name}.dll</c> from the project's own build output (&lt;repo&gt;/{name}/bin/{Config}/{tfm}, built
    /// because the test project references it; its own folder keeps its appsettings apart from other services'),
    /// falling back to the copy in the test's bin folder. <paramref name="environment"/> is added to the test's
    /// environment (a null value removes a variable); <paramref name="arguments"/> follow the dll.
    /// </summary>
    public static ServiceProcess Start(
        string name, IReadOnlyDictionary<string, string?> environment, ITestOutputHelper? testOutput = null, params string[] arguments)
    {
        var dll = Locate(name);
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment)
        {
            if (value is null) start.Environment.Remove(key);
            else start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var service = new ServiceProcess(name, process, testOutput);
        process.OutputDataReceived += (_, e) => service.Append(e.Data);
        process.ErrorDataReceived += (_, e) => service.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return service;
    }

    /// <summary>Waits until a line containing <paramref name="text"/> was written; fails if the process exits first.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (process.HasExited)
                throw new InvalidOperationException($"{Name} exited ({process.ExitCode}) before writing '{text}'. Output:\n{Output}");
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{Name} did not write '{text}' within {timeout}. Output:\n{Output}");
            await Task.Delay(50);
        }
    }

    /// <summary>Hard kill of the process and its children (SIGKILL): no shutdown code runs, like a crash.</summary>
    public void Kill()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
    }

    /// <summary>SIGSTOP: the process freezes where it is (like a VM paused or a GC pause), sockets stay open.</summary>
    public Task FreezeAsync() => SignalAsync("-STOP");

    /// <summary>SIGCONT: a frozen process goes on from where it stopped.</summary>
    public Task ThawAsync() => SignalAsync("-CONT");

    private async Task SignalAsync(string signal)
    {
        // .NET has no API to send a signal to another process; kill(1) does it.
        using var kill = Process.Start("kill", [signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    /// <summary>Graceful stop: SIGTERM, then waits for the exit and returns the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        if (!process.HasExited) await SignalAsync("-TERM");
        return await WaitForExitAsync(timeout);
    }

    /// <summary>Waits for the process to exit and returns its exit code; throws (with the output) on timeout.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Name} (pid {process.Id}) did not exit within {timeout}. Output:\n{Output}");
        }
        return process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!process.HasExited) await ThawAsync(); // a frozen process would not die before it is thawed
            Kill();
            await process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // never started
        }
        process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (output) output.AppendLine(line);
        try
        {
            testOutput?.WriteLine($"[{Label}] {line}");
        }
        catch (InvalidOperationException)
        {
            // the test has already finished
        }
    }

    private static string Locate(string name)
    {
        // AppContext.BaseDirectory = <repo>/Tests/IntegrationTests/bin/<Config>/<tfm>/
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var tfm = testBin.Name;
        var config = testBin.Parent!.Name;
        var repo = testBin.Parent.Parent?.Parent?.Parent?.Parent?.FullName;
        string[] candidates =
        [
            .. repo is null ? [] : new[] { Path.Combine(repo, name, "bin", config, tfm, name + ".dll") },
            Path.Combine(AppContext.BaseDirectory, name + ".dll"),
        ];
        foreach (var dll in candidates)
        {
            if (File.Exists(dll) && File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json")))
                return dll;
        }
        throw new FileNotFoundException(
            $"{name}.dll with its runtimeconfig.json not found (looked at {string.Join(", ", candidates)}). " +
            $"Is {name} a ProjectReference of the test project and built?");
    }
}
