using KafkaPipeline.Shared;

namespace KafkaPipeline.Dashboard;

/// <summary>Settings "Dashboard:*".</summary>
public sealed class DashboardOptions : IValidatedOptions
{
    public const string Section = "Dashboard";

    /// <summary>The source table; the topic read is {TopicPrefix}{TABLE}, as the source writes it (P_USERS).</summary>
    public string Table { get; set; } = "users";
    public string TopicPrefix { get; set; } = "P_";

    /// <summary>
    /// Shortest time between two pushes to the browsers: changes in between are coalesced into one update (4 a second
    /// at most by default), so a backfill of thousands of users a second costs the browsers no more than one user.
    /// </summary>
    public TimeSpan PushInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>An update is pushed at least this often even when nothing changed, so a page knows it is still live.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Consumer groups the topic browser shows (empty: the sinks' default groups). Listed here because librdkafka's mock
    /// cluster (the embedded Kafka) answers neither ListGroups nor DescribeGroups; their committed offsets (OffsetFetch)
    /// it does answer. Empty by default because the configuration binder adds configured entries to an array's
    /// defaults instead of replacing them.
    /// </summary>
    public string[] ConsumerGroups { get; set; } = [];

    public IReadOnlyList<string> GroupsShown => ConsumerGroups.Length > 0 ? ConsumerGroups : ["mysql-sink", "s3-sink"];

    /// <summary>Most messages the topic browser returns per request.</summary>
    public int MaxMessages { get; set; } = 100;

    public string Topic => TopicNames.ForTable(TopicPrefix, Table);

    public IEnumerable<string> Validate(string section)
    {
        foreach (var m in Check.Identifier($"{section}:Table", Table)) yield return m;
        if (!System.Text.RegularExpressions.Regex.IsMatch(TopicPrefix ?? "", @"^[A-Za-z0-9._-]{0,100}\z"))
            yield return $"{section}:TopicPrefix '{TopicPrefix}' may only hold letters, digits, '.', '_' and '-'.";
        if (PushInterval < TimeSpan.FromMilliseconds(50) || PushInterval > TimeSpan.FromSeconds(10))
            yield return $"{section}:PushInterval must be between 00:00:00.050 and 00:00:10 (got {PushInterval}).";
        if (HeartbeatInterval < PushInterval || HeartbeatInterval > TimeSpan.FromMinutes(1))
            yield return $"{section}:HeartbeatInterval must be between PushInterval and 00:01:00 (got {HeartbeatInterval}).";
        if (ConsumerGroups is null || ConsumerGroups.Any(string.IsNullOrWhiteSpace))
            yield return $"{section}:ConsumerGroups must be a list of group ids (empty entries are not allowed).";
        foreach (var m in Check.Range($"{section}:MaxMessages", MaxMessages, 1, 1000)) yield return m;
    }
}
