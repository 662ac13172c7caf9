using KafkaPipeline.Shared;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.Monitor;

/// <summary>Settings "Monitor:*".</summary>
public sealed class MonitorOptions : IValidatedOptions
{
    public const string Section = "Monitor";
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);
    public string Table { get; set; } = "users";
    public string TopicPrefix { get; set; } = "P_";
    public string Topic => TopicNames.ForTable(TopicPrefix, Table);

    public IEnumerable<string> Validate(string section)
    {
        foreach (var m in Check.Positive($"{section}:Interval", Interval)) yield return m;
        foreach (var m in Check.Identifier($"{section}:Table", Table)) yield return m;
    }
}

/// <summary>Prints one status line per interval to stdout (the run command shows it beside the services' logs).</summary>
public sealed class StatusWorker(PipelineStatus status, IOptions<MonitorOptions> options) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Interval);
        do
        {
            var snapshot = await status.ReadAsync(stoppingToken);
            Console.WriteLine($"[status {DateTime.UtcNow:HH:mm:ss}Z] {snapshot.ToLine()}");
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
