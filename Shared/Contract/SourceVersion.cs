using NpgsqlTypes;

namespace KafkaPipeline.Shared;

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
