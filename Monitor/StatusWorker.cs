using KafkaPipeline.Shared;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.Monitor;

/// <summary>Settings "Monitor:*". The tables it watches are Pipeline:Tables, which every service shares.</summary>
public sealed class MonitorOptions : IValidatedOptions
{
    public const string Section = "Monitor";
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The users table: its line adds the customers, the top sign-up countries and the end-to-end latency.</summary>
    public string Table { get; set; } = "users";
    public string TopicPrefix { get; set; } = "P_";

    /// <summary>The sinks' consumer groups whose lag each table's line shows (empty: the sinks' default groups).</summary>
    public string[] ConsumerGroups { get; set; } = [];

    public IReadOnlyList<string> GroupsShown => ConsumerGroups.Length > 0 ? ConsumerGroups : ["mysql-sink", "s3-sink"];

    public string Topic => UsersTable.Topic(TopicPrefix);

    public TableName UsersTable => TableName.TryParse(Table, out var table) ? table! : throw new InvalidOperationException($"Monitor:Table '{Table}' is not a table name");

    public IEnumerable<string> Validate(string section)
    {
        foreach (var m in Check.Positive($"{section}:Interval", Interval)) yield return m;
        if (!TableName.TryParse(Table ?? "", out _))
            yield return $"{section}:Table '{Table}' is not a table name: use table or schema.table, each a plain identifier (letters, digits, '_').";
        if (!System.Text.RegularExpressions.Regex.IsMatch(TopicPrefix ?? "", @"^[A-Za-z0-9._-]{0,100}\z"))
            yield return $"{section}:TopicPrefix '{TopicPrefix}' may only hold letters, digits, '.', '_' and '-'.";
        if (ConsumerGroups is null || ConsumerGroups.Any(string.IsNullOrWhiteSpace))
            yield return $"{section}:ConsumerGroups must be a list of group ids (empty entries are not allowed).";
    }
}

/// <summary>
/// Prints the status every interval to stdout, one line per table and one for the replication slots, each starting
/// "[status HH:mm:ssZ]" (the AppHost copies those lines to its console, where ./run.sh shows them).
/// </summary>
public sealed class StatusWorker(PipelineStatus status, IOptions<MonitorOptions> options) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Interval);
        do
        {
            var snapshot = await status.ReadAsync(stoppingToken);
            var stamp = $"[status {DateTime.UtcNow:HH:mm:ss}Z]";
            Console.WriteLine(string.Join(Environment.NewLine, snapshot.ToLines().Select(line => $"{stamp} {line}")));
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
