using System.Globalization;

namespace KafkaPipeline.S3SinkService;

/// <summary>
/// Key layout of the Confluent S3 sink (default partitioner):
/// <c>{topicsDir}/{topic}/partition={p}/{topic}+{p}+{startOffset:D10}.json</c> (or <c>.parquet</c>).
/// The zero padding makes the keys of one partition sort by start offset (up to 10^10 offsets).
/// </summary>
public static class ObjectKeys
{
    public const string Extension = ".json";
    public const string ParquetExtension = ".parquet";

    public static string ExtensionOf(LakeFormat format) => format == LakeFormat.Parquet ? ParquetExtension : Extension;

    public static string PartitionPrefix(string topicsDir, string topic, int partition) =>
        string.Create(CultureInfo.InvariantCulture, $"{topicsDir}/{topic}/partition={partition}/");

    public static string ObjectKey(string topicsDir, string topic, int partition, long startOffset, LakeFormat format = LakeFormat.Json) =>
        PartitionPrefix(topicsDir, topic, partition)
        + string.Create(CultureInfo.InvariantCulture, $"{topic}+{partition}+{startOffset:D10}{ExtensionOf(format)}");

    /// <summary>Reads (topic, partition, start offset, format) back from a key; false for keys of another layout.</summary>
    public static bool TryParse(string key, out ParsedKey parsed)
    {
        parsed = default;
        var slash = key.LastIndexOf('/');
        var fileName = key[(slash + 1)..];
        var format = fileName.EndsWith(Extension, StringComparison.Ordinal) ? LakeFormat.Json
            : fileName.EndsWith(ParquetExtension, StringComparison.Ordinal) ? LakeFormat.Parquet : (LakeFormat?)null;
        if (format is null) return false;
        // Kafka topic names cannot contain '+', so the last two '+' separate partition and offset.
        var parts = fileName[..^ExtensionOf(format.Value).Length].Split('+');
        if (parts.Length != 3 || parts[0].Length == 0) return false;
        if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var partition)) return false;
        if (parts[2].Length < 10 || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var offset)) return false;
        // The folder must agree with the file name: ".../{topic}/partition={p}/".
        var expectedFolder = string.Create(CultureInfo.InvariantCulture, $"{parts[0]}/partition={partition}/");
        if (slash < 0 || !key[..(slash + 1)].EndsWith(expectedFolder, StringComparison.Ordinal)) return false;
        parsed = new ParsedKey(parts[0], partition, offset, format.Value);
        return true;
    }
}

public readonly record struct ParsedKey(string Topic, int Partition, long StartOffset, LakeFormat Format = LakeFormat.Json);

/// <summary>The file format of the lake's objects (S3Sink:Format).</summary>
public enum LakeFormat
{
    /// <summary>JSON lines (docs/events.md, "Lake lines").</summary>
    Json,
    /// <summary>Parquet, one row group of typed columns (docs/lake.md).</summary>
    Parquet,
}
