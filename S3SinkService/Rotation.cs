namespace KafkaPipeline.S3SinkService;

public enum RotationReason
{
    None,
    /// <summary>FlushSize records reached.</summary>
    Size,
    /// <summary>The object has been open for RotateInterval (wall clock).</summary>
    Time,
}

/// <summary>When an open object must be closed. Pure: the caller passes the clock.</summary>
public sealed class RotationPolicy(int flushSize, TimeSpan rotateInterval)
{
    public RotationReason Check(int records, DateTimeOffset openedAt, DateTimeOffset now)
    {
        if (records >= flushSize) return RotationReason.Size;
        return now - openedAt >= rotateInterval ? RotationReason.Time : RotationReason.None;
    }

    public bool IsFull(int records) => records >= flushSize;

    /// <summary>When the object must be closed at the latest (now when it is full).</summary>
    public DateTimeOffset DueAt(int records, DateTimeOffset openedAt) => IsFull(records) ? DateTimeOffset.MinValue : openedAt + rotateInterval;
}

/// <summary>
/// Where a partition resumes after an assignment. The bucket is the truth: its newest object's end offset is where
/// the previous writer stopped, committed offsets may lag behind it (crash between PUT and commit). A committed offset
/// ahead of the bucket only happens when the last records were all dead-lettered (no object, but committed).
/// </summary>
public static class ResumePosition
{
    /// <returns>The offset to read next, or null when neither source knows (start at the beginning).</returns>
    public static long? Choose(long? bucketEndOffset, long? committedOffset) =>
        (bucketEndOffset, committedOffset) switch
        {
            (null, null) => null,
            (long b, null) => b,
            (null, long c) => c,
            (long b, long c) => Math.Max(b, c),
        };
}
