namespace KafkaPipeline.Shared;

/// <summary>Where the source is in the table: rows are read in (updated_at, id) order.</summary>
public readonly record struct SourcePosition(DateTime UpdatedAt, long Id) : IComparable<SourcePosition>
{
    public static readonly SourcePosition Start = new(DateTime.UnixEpoch, 0);

    public int CompareTo(SourcePosition other)
    {
        var c = UpdatedAt.CompareTo(other.UpdatedAt);
        return c != 0 ? c : Id.CompareTo(other.Id);
    }

    public static bool operator <(SourcePosition a, SourcePosition b) => a.CompareTo(b) < 0;
    public static bool operator >(SourcePosition a, SourcePosition b) => a.CompareTo(b) > 0;
    public static bool operator <=(SourcePosition a, SourcePosition b) => a.CompareTo(b) <= 0;
    public static bool operator >=(SourcePosition a, SourcePosition b) => a.CompareTo(b) >= 0;
}
