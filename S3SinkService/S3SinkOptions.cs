using KafkaPipeline.Shared;

namespace KafkaPipeline.S3SinkService;

/// <summary>
/// Settings "S3Sink:*". The bucket and endpoint come from the shared "S3" section (S3Options); the Kafka bootstrap
/// servers from ConnectionStrings:kafka.
/// </summary>
public sealed class S3SinkOptions() : SinkOptions("s3-sink", "s3")
{
    public const string Section = "S3Sink";

    /// <summary>
    /// Most records in one object (Confluent's flush.size). Bounds the sink's memory during a backfill (an open object
    /// is held until it is stored) while keeping objects few; at a trickle RotateInterval closes objects long before
    /// this.
    /// </summary>
    public int FlushSize { get; set; } = 5_000;

    /// <summary>
    /// Longest wall-clock time an object stays open. Checked on a timer, not only when a record arrives, so at a trickle
    /// each user is in S3 about this long after it reached Kafka.
    /// </summary>
    public TimeSpan RotateInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The objects' file format: json (JSON lines, the default) or parquet.</summary>
    public string Format { get; set; } = "json";

    /// <summary><see cref="Format"/> parsed (valid after validation).</summary>
    public LakeFormat EffectiveFormat => Enum.TryParse<LakeFormat>(Format, ignoreCase: true, out var f) ? f : LakeFormat.Json;

    /// <summary>First path segment of every key (Confluent's topics.dir).</summary>
    public string TopicsDir { get; set; } = "topics";

    protected override IEnumerable<string> ValidateSink(string section)
    {
        var messages = new List<string>();
        messages.AddRange(Check.Range($"{section}:FlushSize", FlushSize, 1, 1_000_000));
        messages.AddRange(Check.Positive($"{section}:RotateInterval", RotateInterval));
        if (RotateInterval > TimeSpan.FromHours(1))
            messages.Add($"{section}:RotateInterval must be at most 01:00:00 (got {RotateInterval}).");
        if (!Enum.TryParse<LakeFormat>(Format, ignoreCase: true, out _) || int.TryParse(Format, out _))
            messages.Add($"{section}:Format '{Format}' must be json or parquet.");
        if (!IsKeySegment(TopicsDir))
            messages.Add($"{section}:TopicsDir '{TopicsDir}' must be a non-empty key prefix of letters, digits, '_', '-', '.' or inner '/'.");
        return messages;
    }

    private static bool IsKeySegment(string? dir) =>
        !string.IsNullOrEmpty(dir) && dir[0] != '/' && dir[^1] != '/' && !dir.Contains("//", StringComparison.Ordinal)
        && dir.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or '/');
}
