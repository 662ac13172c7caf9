using KafkaPipeline.Shared.Sinks;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>
/// Where a row version stands in the source's history, as the sink stores it with every row, delete marker and schema
/// decision: the epoch ordinal, the commit and change LSN (0 for the polling modes), and the version time (the commit
/// time, else Kafka's timestamp). The one definition of "newer" for the sink, in C# (<see cref="IsNewerThan"/>) and in
/// SQL (<see cref="NewerSql"/>): when both versions have an LSN, (epoch, commit LSN, change LSN) decides (a higher
/// epoch is newer than anything of a lower one); otherwise the version time.
/// </summary>
public readonly record struct RecordVersion(long Epoch, ulong CommitLsn, ulong ChangeLsn, DateTime Time)
{
    public const string EpochColumn = "src_epoch";
    public const string CommitLsnColumn = "src_commit_lsn";
    public const string ChangeLsnColumn = "src_change_lsn";
    public const string TimeColumn = "src_commit_ts";

    /// <summary>The version columns in the order the statements stage and store them.</summary>
    public static readonly string[] Columns = [EpochColumn, CommitLsnColumn, ChangeLsnColumn, TimeColumn];

    public static RecordVersion Of(SinkRecord r) =>
        new(r.Source.Epoch.Ordinal, r.Source.Version.CommitLsn, r.Source.Version.ChangeLsn, Utc(r.VersionTime));

    public bool IsNewerThan(RecordVersion other)
    {
        if (CommitLsn == 0 || other.CommitLsn == 0) return Time > other.Time;
        if (Epoch != other.Epoch) return Epoch > other.Epoch;
        return CommitLsn != other.CommitLsn ? CommitLsn > other.CommitLsn : ChangeLsn > other.ChangeLsn;
    }

    /// <summary>The newer of two versions (either when equal).</summary>
    public static RecordVersion Max(RecordVersion a, RecordVersion b) => b.IsNewerThan(a) ? b : a;

    /// <summary>The parameter values of <see cref="Columns"/>.</summary>
    public object[] Values => [(ulong)Epoch, CommitLsn, ChangeLsn, Time];

    /// <summary>SQL: the version in alias <paramref name="s"/>'s columns is newer than the one in <paramref name="x"/>'s (as <see cref="IsNewerThan"/>).</summary>
    public static string NewerSql(string s, string x) =>
        $"(CASE WHEN {s}.`{CommitLsnColumn}` <> 0 AND {x}.`{CommitLsnColumn}` <> 0 " +
        $"THEN ({s}.`{EpochColumn}`, {s}.`{CommitLsnColumn}`, {s}.`{ChangeLsnColumn}`) > ({x}.`{EpochColumn}`, {x}.`{CommitLsnColumn}`, {x}.`{ChangeLsnColumn}`) " +
        $"ELSE {s}.`{TimeColumn}` > {x}.`{TimeColumn}` END)";

    /// <summary>DATETIME has no zone: the columns hold UTC wall-clock values.</summary>
    public static DateTime Utc(DateTime value) =>
        DateTime.SpecifyKind(value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : value, DateTimeKind.Unspecified);
}
