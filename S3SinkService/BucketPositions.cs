using System.Globalization;
using Amazon.S3;
using Amazon.S3.Model;

namespace KafkaPipeline.S3SinkService;

/// <summary>The object metadata (x-amz-meta-*) the sink writes with every object.</summary>
public static class ObjectMetadata
{
    public const string Topic = "kafka-topic";
    public const string Partition = "kafka-partition";
    /// <summary>Offset of the first record the object covers (also in the key).</summary>
    public const string StartOffset = "start-offset";
    /// <summary>Last covered offset + 1: the next offset to read. Covers dead-lettered records, so it can exceed start + lines.</summary>
    public const string EndOffset = "end-offset";
    public const string RecordCount = "record-count";
}

/// <summary>A stored object of one partition, as far as resuming needs it.</summary>
public readonly record struct StoredObject(string Key, long StartOffset, long EndOffset);

/// <summary>Reads from the bucket where each partition's stored data ends.</summary>
public sealed class BucketPositions(IAmazonS3 s3, string bucket, string topicsDir)
{
    /// <summary>
    /// Where each partition resumes: the end of its newest object, or the committed offset when that is further (the
    /// last records were dead-lettered, so no object holds them); null when neither knows (the beginning).
    /// </summary>
    public async Task<IReadOnlyDictionary<Confluent.Kafka.TopicPartition, long?>> ResumeOffsetsAsync(
        IReadOnlyDictionary<Confluent.Kafka.TopicPartition, long?> committed, CancellationToken ct)
    {
        var lookups = committed.Select(async kv =>
            (kv.Key, ResumePosition.Choose((await LastObjectAsync(kv.Key, kv.Value, ct))?.EndOffset, kv.Value)));
        return (await Task.WhenAll(lookups)).ToDictionary(p => p.Key, p => p.Item2);
    }

    /// <summary>
    /// The object of <paramref name="tp"/> with the highest start offset, or null when there is none.
    /// With <paramref name="committedOffset"/> only keys from that offset on are listed: the sink commits object end
    /// offsets only, so an object starting before it also ends at or before it, and listing stays short however many
    /// objects the partition has accumulated.
    /// </summary>
    public async Task<StoredObject?> LastObjectAsync(Confluent.Kafka.TopicPartition tp, long? committedOffset, CancellationToken ct)
    {
        var (topic, partition) = (tp.Topic, tp.Partition.Value);
        var request = new ListObjectsV2Request
        {
            BucketName = bucket,
            Prefix = ObjectKeys.PartitionPrefix(topicsDir, topic, partition),
        };
        if (committedOffset is > 0)
            request.StartAfter = ObjectKeys.ObjectKey(topicsDir, topic, partition, committedOffset.Value - 1);

        string? lastKey = null;
        long lastStart = -1;
        ListObjectsV2Response response;
        do
        {
            response = await s3.ListObjectsV2Async(request, ct);
            foreach (var o in response.S3Objects ?? [])
            {
                // Compare parsed offsets rather than trusting the listing order (11-digit offsets would sort wrongly).
                if (ObjectKeys.TryParse(o.Key, out var parsed) && parsed.Topic == topic && parsed.Partition == partition
                    && parsed.StartOffset > lastStart)
                {
                    lastKey = o.Key;
                    lastStart = parsed.StartOffset;
                }
            }
            request.ContinuationToken = response.NextContinuationToken;
        } while (response.IsTruncated == true);

        if (lastKey is null) return null;
        return new StoredObject(lastKey, lastStart, await EndOffsetAsync(lastKey, lastStart, ct));
    }

    /// <summary>The end-offset metadata; for an object without it (written by another tool), start + its line count.</summary>
    private async Task<long> EndOffsetAsync(string key, long startOffset, CancellationToken ct)
    {
        var head = await s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = key }, ct);
        var value = head.Metadata[ObjectMetadata.EndOffset];
        if (long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var end) && end > startOffset)
            return end;

        using var get = await s3.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = key }, ct);
        using var reader = new StreamReader(get.ResponseStream);
        long lines = 0;
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.Length > 0) lines++;
        }
        return startOffset + lines;
    }
}
