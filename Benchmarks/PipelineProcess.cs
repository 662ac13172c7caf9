using System.Diagnostics;
using System.Globalization;

namespace KafkaPipeline.Benchmarks;

/// <summary>
/// A service run as its own process, <c>dotnet {Name}.dll</c> from the service's build folder (same configuration as
/// this program), output to a log file. Peak resident memory comes from the kernel (/proc/pid/status VmHWM).
/// </summary>
public sealed class PipelineProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Queue<string> _tail = new();

    private PipelineProcess(string name, Process process, StreamWriter log, string logPath)
    {
        Name = name;
        _process = process;
        _log = log;
        LogPath = logPath;
    }

    public string Name { get; }
    public string LogPath { get; }
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>Peak resident memory seen while the process ran (last value read before it exited).</summary>
    public long? PeakRssBytes { get; private set; }

    public string Tail
    {
        get { lock (_tail) return string.Join(Environment.NewLine, _tail); }
    }

    public static PipelineProcess Start(string name, IReadOnlyDictionary<string, string?> environment, string logDir,
        IReadOnlyList<string>? arguments = null)
    {
        var dll = Locate(name);
        Directory.CreateDirectory(logDir);
        var logPath = Path.Combine(logDir, $"{name}-{DateTime.UtcNow:HHmmss.fff}.log");
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.ArgumentList.Add(dll);
        foreach (var a in arguments ?? []) start.ArgumentList.Add(a);
        start.Environment["DOTNET_NOLOGO"] = "1";
        // A free port for /health, so several services (and ./run.sh) never collide.
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        // Whatever OTLP endpoint this shell has must not make the services export during a measurement.
        start.Environment.Remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        foreach (var (key, value) in environment)
        {
            if (value is null) start.Environment.Remove(key);
            else start.Environment[key] = value;
        }
        var log = new StreamWriter(logPath) { AutoFlush = true };
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var p = new PipelineProcess(name, process, log, logPath);
        process.OutputDataReceived += (_, e) => p.Append(e.Data);
        process.ErrorDataReceived += (_, e) => p.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return p;
    }

    /// <summary>Reads VmHWM (peak RSS since start) and remembers it; null once the process is gone.</summary>
    public long? SamplePeakRss()
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
            {
                if (!line.StartsWith("VmHWM:", StringComparison.Ordinal)) continue;
                var kb = long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                PeakRssBytes = Math.Max(PeakRssBytes ?? 0, kb * 1024);
                return PeakRssBytes;
            }
        }
        catch (IOException)
        {
        }
        catch (InvalidOperationException)
        {
        }
        return PeakRssBytes;
    }

    /// <summary>Resident memory now (VmRSS); null once the process is gone.</summary>
    public long? CurrentRssBytes()
    {
        try
        {
            var line = File.ReadLines($"/proc/{_process.Id}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>User + system CPU seconds used so far; null once gone.</summary>
    public double? CpuSeconds() => ProcessCpu.Seconds(_process.Id);

    /// <summary>Waits for the process to end by itself (the Generator stops after TotalCount); samples memory meanwhile.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!_process.HasExited)
        {
            SamplePeakRss();
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{Name} (pid {Id}) did not finish within {timeout}. Last output:\n{Tail}");
            await Task.Delay(100, ct);
        }
        await _process.WaitForExitAsync(ct);
        return _process.ExitCode;
    }

    /// <summary>Sends a signal (KILL, STOP, CONT, ...) to the process, if it still runs.</summary>
    public async Task SignalAsync(string signal)
    {
        if (_process.HasExited) return;
        using var kill = Process.Start("kill", [$"-{signal}", Id.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    /// <summary>Graceful stop (SIGTERM), then a kill after <paramref name="timeout"/>.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (_process.HasExited) return;
        SamplePeakRss();
        using (var kill = Process.Start("kill", ["-TERM", Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync(TimeSpan.FromSeconds(10));
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        lock (_tail) _log.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_tail)
        {
            _log.WriteLine(line);
            _tail.Enqueue(line);
            while (_tail.Count > 40) _tail.Dequeue();
        }
    }

    /// <summary>The folder holding KafkaPipeline.sln, above this program's build folder.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "KafkaPipeline.sln"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException($"No KafkaPipeline.sln above {AppContext.BaseDirectory}: cannot find the services' build folders.");
    }

    /// <summary>&lt;repo&gt;/{name}/bin/{Configuration}/{tfm}/{name}.dll, the configuration and tfm being this program's own.</summary>
    public static string Locate(string name)
    {
        var bin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var tfm = bin.Name;
        var config = bin.Parent?.Name ?? "Release";
        var dll = Path.Combine(RepoRoot(), name, "bin", config, tfm, name + ".dll");
        return File.Exists(dll) && File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json"))
            ? dll
            : throw new FileNotFoundException($"{dll} (with its runtimeconfig.json) not found: build {name} in {config} first.");
    }
}

/// <summary>CPU time of any process from /proc (clock ticks of 1/100 s), e.g. the database servers.</summary>
public static class ProcessCpu
{
    /// <summary>User + system seconds of <paramref name="pid"/>; null when it does not exist.</summary>
    public static double? Seconds(int pid) => Read(pid) is { } r ? r.Ticks / 100.0 : null;

    /// <summary>Seconds of <paramref name="pid"/> plus its live children (PostgreSQL: one backend process per connection).</summary>
    public static double? SecondsWithChildren(int pid)
    {
        if (Read(pid) is not { } own) return null;
        long ticks = own.Ticks;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var child)
                && Read(child) is { } r && r.Parent == pid)
                ticks += r.Ticks;
        }
        return ticks / 100.0;
    }

    private static (long Ticks, int Parent)? Read(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // After "pid (comm) " come state (field 3), ppid (4), ... utime (14), stime (15).
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture),
                int.Parse(fields[1], CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }
}
