using KafkaPipeline.Benchmarks;

// Benchmarks [--users N] [--latency-seconds S] [--rates 1,100,1000] [--quick] [--json PATH] ...
// Exit code: 0 = run complete and every user exactly once in each store; 1 = a store missed or doubled users (or a
// phase did not complete); 2 = bad arguments. Normally started by eng/bench.sh, which brings its own servers.

// Benchmarks faults [--quick] [--json PATH] [--logs DIR] ...: the fault run (eng/faults.sh; --quick: the short one, without
// server restarts); exit 1 when a fault lost, doubled or left stale anything.
var faults = args.FirstOrDefault() == "faults";
if (faults) args = args[1..];

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(BenchmarkSettings.Usage);
    return 0;
}
BenchmarkSettings settings;
try
{
    settings = BenchmarkSettings.Parse(args, Environment.GetEnvironmentVariable);
}
catch (ArgumentException e)
{
    await Console.Error.WriteLineAsync($"Benchmarks: {e.Message}");
    await Console.Error.WriteLineAsync(BenchmarkSettings.Usage);
    return 2;
}

// Ctrl+C or SIGTERM: cancel, so the service processes are stopped before the program ends.
using var cts = new CancellationTokenSource();
void OnSignal(System.Runtime.InteropServices.PosixSignalContext context)
{
    context.Cancel = true;
    cts.Cancel();
}
using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, OnSignal);
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, OnSignal);

// eng/bench.sh passes the command as typed; run directly, the program's own arguments.
var command = Environment.GetEnvironmentVariable("KP_BENCH_COMMAND") is { Length: > 0 } typed ? typed : "Benchmarks " + string.Join(' ', args);
if (faults)
{
    var results = await new FaultRun(settings, Console.Error).RunAsync(settings.Quick ? FaultRun.Short : FaultRun.All, cts.Token);
    Console.WriteLine();
    Console.WriteLine(FaultReport.Table(results));
    if (settings.JsonPath is { } faultsJson)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(faultsJson))!);
        await File.WriteAllTextAsync(faultsJson, FaultReport.Json(results, command));
        Console.WriteLine($"JSON: {Path.GetFullPath(faultsJson)}");
    }
    return results.All(r => r.Clean) ? 0 : 1;
}
var report = await new BenchmarkRunner(settings, Console.Error).RunAsync(command, cts.Token);
Console.WriteLine();
Console.WriteLine(ReportWriter.Table(report));
if (settings.JsonPath is { } path)
{
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    await File.WriteAllTextAsync(path, ReportWriter.Json(report));
    Console.WriteLine($"JSON: {Path.GetFullPath(path)}");
}
return report.Ok ? 0 : 1;
