using System.Runtime.InteropServices;
using KafkaPipeline.EmbeddedKafka;

// EmbeddedKafka [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file PATH]
// Starts the in-memory cluster, prints "bootstrap=<list>", runs until SIGTERM/SIGINT, exits 0.

const string Usage = "usage: EmbeddedKafka [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file PATH]";

if (!CommandLine.TryParse(args, out var options, out var error))
{
    await Console.Error.WriteLineAsync($"EmbeddedKafka: {error}");
    await Console.Error.WriteLineAsync(Usage);
    return 2;
}
if (options.Help)
{
    Console.WriteLine(Usage);
    return 0;
}

var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
void OnSignal(PosixSignalContext context)
{
    context.Cancel = true; // we shut down ourselves, after destroying the cluster
    stop.TrySetResult();
}
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

using var cluster = EmbeddedKafkaCluster.Start(options.Brokers);
try
{
    foreach (var (name, partitions) in options.Topics)
    {
        // Throws (exit code != 0, message on stderr) when the topic could not keep every message.
        cluster.CreateTopic(name, partitions, replicationFactor: Math.Min(3, options.Brokers));
        await Console.Error.WriteLineAsync($"EmbeddedKafka: topic {name} partitions={partitions} (keeps all messages)");
    }

    if (options.BootstrapFile is { } file)
    {
        // Readers poll for the file: write it completely under another name, then rename it into place.
        var full = Path.GetFullPath(file);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = $"{full}.{Environment.ProcessId}.tmp";
        await File.WriteAllTextAsync(temp, cluster.BootstrapServers + "\n");
        File.Move(temp, full, overwrite: true);
    }

    Console.WriteLine($"bootstrap={cluster.BootstrapServers}");
    await Console.Error.WriteLineAsync(
        $"EmbeddedKafka: {options.Brokers} broker(s), librdkafka {EmbeddedKafkaCluster.LibrdkafkaVersion}, in memory; Ctrl+C or SIGTERM stops it");

    await stop.Task;
    await Console.Error.WriteLineAsync("EmbeddedKafka: stopping");
}
catch (InvalidOperationException e)
{
    await Console.Error.WriteLineAsync($"EmbeddedKafka: {e.Message}");
    return 1;
}
return 0;
