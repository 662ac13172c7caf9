using System.Globalization;
using System.Text;
using Confluent.Kafka;
using NpgsqlTypes;

namespace KafkaPipeline.Shared;

/// <summary>Debezium's operation letters, carried in the <see cref="ChangeHeaders.Op"/> header.</summary>
public static class ChangeOp
{
    public const string Create = "c";
    public const string Update = "u";
    public const string Delete = "d";
    /// <summary>A row of the initial snapshot.</summary>
    public const string Read = "r";
}

/// <summary>
/// Where a change comes from in PostgreSQL's log: the commit LSN of its transaction, then the LSN of the change itself
/// (orders several changes of one transaction). Both are 0 for records of the polling modes, which have no LSN; their
/// order is (updated_at, id). A snapshot row has the slot's consistent point as commit LSN and 0 as change LSN, so any
/// change streamed after it is newer.
/// </summary>
public readonly record struct SourceVersion(ulong CommitLsn, ulong ChangeLsn) : IComparable<SourceVersion>
{
    public static SourceVersion None => default;

    public bool HasLsn => CommitLsn != 0;

    public int CompareTo(SourceVersion other)
    {
        var c = CommitLsn.CompareTo(other.CommitLsn);
        return c != 0 ? c : ChangeLsn.CompareTo(other.ChangeLsn);
    }

    public static bool operator <(SourceVersion a, SourceVersion b) => a.CompareTo(b) < 0;
    public static bool operator >(SourceVersion a, SourceVersion b) => a.CompareTo(b) > 0;
    public static bool operator <=(SourceVersion a, SourceVersion b) => a.CompareTo(b) <= 0;
    public static bool operator >=(SourceVersion a, SourceVersion b) => a.CompareTo(b) >= 0;

    public override string ToString() => $"{FormatLsn(CommitLsn)}/{FormatLsn(ChangeLsn)}";

    /// <summary>PostgreSQL's text form of an LSN, e.g. "0/16B3748".</summary>
    public static string FormatLsn(ulong lsn) => new NpgsqlLogSequenceNumber(lsn).ToString();

    public static bool TryParseLsn(string? text, out ulong lsn)
    {
        lsn = 0;
        if (text is null || !NpgsqlLogSequenceNumber.TryParse(text, out var parsed)) return false;
        lsn = (ulong)parsed;
        return true;
    }
}

/// <summary>
/// Headers of a change event on P_USERS (written by the source, read by the sinks, the Dashboard and any Kafka
/// Connect sink). Key = user id, value = the row as flat JSON, or null for a delete (a tombstone).
/// </summary>
public static class ChangeHeaders
{
    /// <summary>c, u, d or r (<see cref="ChangeOp"/>).</summary>
    public const string Op = "op";
    /// <summary>Commit LSN of the transaction, PostgreSQL text form ("0/16B3748").</summary>
    public const string CommitLsn = "source.commit_lsn";
    /// <summary>LSN of the change itself within its transaction (text form); "0/0" for snapshot rows.</summary>
    public const string ChangeLsn = "source.change_lsn";
    /// <summary>Commit time of the transaction, ISO-8601 UTC with microseconds ("2026-11-29T20:01:02.123456Z").</summary>
    public const string CommitTime = "source.commit_ts";
    /// <summary>
    /// Ordinal of the event within its transaction (decimal, from 0; snapshot rows: within the snapshot). With the commit
    /// LSN it names an event uniquely, which the change LSN alone does not: the rows of one multi-row insert (COPY)
    /// share one log record. The source uses it to skip what Kafka already holds after a crash.
    /// </summary>
    public const string TxIndex = "source.tx_index";

    public static void Write(Headers headers, string op, SourceVersion version, DateTime commitTimeUtc, long? txIndex = null)
    {
        PipelineHeaders.SetString(headers, Op, op);
        PipelineHeaders.SetString(headers, CommitLsn, SourceVersion.FormatLsn(version.CommitLsn));
        PipelineHeaders.SetString(headers, ChangeLsn, SourceVersion.FormatLsn(version.ChangeLsn));
        PipelineHeaders.SetString(headers, CommitTime, FormatTime(commitTimeUtc));
        if (txIndex is { } i) PipelineHeaders.SetString(headers, TxIndex, i.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>The event's ordinal within its transaction, or null when the record carries none.</summary>
    public static long? ReadTxIndex(Headers? headers) =>
        long.TryParse(PipelineHeaders.GetString(headers, TxIndex), NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : null;

    public static string? ReadOp(Headers? headers) => PipelineHeaders.GetString(headers, Op);

    /// <summary>The record's version, or <see cref="SourceVersion.None"/> when it carries none (polling modes).</summary>
    public static SourceVersion ReadVersion(Headers? headers) =>
        SourceVersion.TryParseLsn(PipelineHeaders.GetString(headers, CommitLsn), out var commit)
            ? new SourceVersion(commit,
                SourceVersion.TryParseLsn(PipelineHeaders.GetString(headers, ChangeLsn), out var change) ? change : 0)
            : SourceVersion.None;

    /// <summary>The PostgreSQL commit time, or null when the record carries none.</summary>
    public static DateTime? ReadCommitTime(Headers? headers) =>
        PipelineHeaders.GetString(headers, CommitTime) is { } text &&
        DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t)
            ? t
            : null;

    public static string FormatTime(DateTime utc) =>
        DateTime.SpecifyKind(utc.Kind == DateTimeKind.Local ? utc.ToUniversalTime() : utc, DateTimeKind.Utc)
            .ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
}

/// <summary>
/// Writes the change headers of a stream of events into new <see cref="Headers"/>, encoding the values that repeat from
/// one event to the next (the op, a transaction's commit LSN and time, a multi-row insert's change LSN) only once. Same
/// names and formats as <see cref="ChangeHeaders.Write"/>. Not thread-safe: one per producing loop.
/// </summary>
public sealed class ChangeHeaderWriter
{
    private readonly Dictionary<string, byte[]> _ops = new(StringComparer.Ordinal);
    private (ulong Lsn, byte[] Bytes) _commitLsn = (ulong.MaxValue, []);
    private (ulong Lsn, byte[] Bytes) _changeLsn = (ulong.MaxValue, []);
    private (DateTime Time, byte[] Bytes) _commitTime = (DateTime.MinValue, []);

    public void Write(Headers headers, string op, SourceVersion version, DateTime commitTimeUtc, long txIndex)
    {
        if (!_ops.TryGetValue(op, out var opBytes)) _ops[op] = opBytes = Encoding.UTF8.GetBytes(op);
        if (_commitLsn.Lsn != version.CommitLsn) _commitLsn = (version.CommitLsn, Encoding.UTF8.GetBytes(SourceVersion.FormatLsn(version.CommitLsn)));
        if (_changeLsn.Lsn != version.ChangeLsn) _changeLsn = (version.ChangeLsn, Encoding.UTF8.GetBytes(SourceVersion.FormatLsn(version.ChangeLsn)));
        if (_commitTime.Time != commitTimeUtc) _commitTime = (commitTimeUtc, Encoding.UTF8.GetBytes(ChangeHeaders.FormatTime(commitTimeUtc)));
        // New headers hold none of these yet: Add, not SetString.
        headers.Add(ChangeHeaders.Op, opBytes);
        headers.Add(ChangeHeaders.CommitLsn, _commitLsn.Bytes);
        headers.Add(ChangeHeaders.ChangeLsn, _changeLsn.Bytes);
        headers.Add(ChangeHeaders.CommitTime, _commitTime.Bytes);
        headers.Add(ChangeHeaders.TxIndex, Encoding.UTF8.GetBytes(txIndex.ToString(CultureInfo.InvariantCulture)));
    }
}
