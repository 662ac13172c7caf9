using Amazon.S3;
using Amazon.S3.Model;

namespace KafkaPipeline.Monitor;

/// <summary>
/// Records and objects the S3 sink has stored, read incrementally: each partition's folder is listed only after the
/// last key already counted (StartAfter; keys end in the 10-digit start offset, so they sort in offset order), and each
/// new object is asked for its record-count metadata once. A status line every 5 s thus costs a few small requests
/// however large the bucket grows, where a full listing grew with it.
/// </summary>
public sealed class LakeProgress(IAmazonS3 s3, string bucket, string topicsDir, string topic)
{
    private static readonly TimeSpan s_partitionRefresh = TimeSpan.FromSeconds(60);
    private readonly Dictionary<string, string?> _lastKeyByPrefix = new(StringComparer.Ordinal); // partition folder -> last counted key
    private DateTime _nextPartitionRefresh = DateTime.MinValue;

    public string Prefix { get; } = $"{topicsDir.Trim('/')}/{topic}/";
    public long Records { get; private set; }
    public long Objects { get; private set; }

    public async Task<(long Records, long Objects)> RefreshAsync(CancellationToken ct)
    {
        if (DateTime.UtcNow >= _nextPartitionRefresh)
        {
            await FindPartitionsAsync(ct);
            // While the lake has no partition folder yet (a new pipeline), look again at the next status line.
            if (_lastKeyByPrefix.Count > 0) _nextPartitionRefresh = DateTime.UtcNow + s_partitionRefresh;
        }
        foreach (var prefix in _lastKeyByPrefix.Keys.ToList()) await ReadNewObjectsAsync(prefix, ct);
        return (Records, Objects);
    }

    /// <summary>The partition=N/ folders under the topic's prefix (one delimiter listing: a handful of names).</summary>
    private async Task FindPartitionsAsync(CancellationToken ct)
    {
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = Prefix, Delimiter = "/" };
        ListObjectsV2Response page;
        do
        {
            page = await s3.ListObjectsV2Async(request, ct);
            foreach (var folder in page.CommonPrefixes ?? []) _lastKeyByPrefix.TryAdd(folder, null);
            request.ContinuationToken = page.NextContinuationToken;
        } while (page.IsTruncated == true);
    }

    private async Task ReadNewObjectsAsync(string prefix, CancellationToken ct)
    {
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix, StartAfter = _lastKeyByPrefix[prefix] };
        ListObjectsV2Response page;
        do
        {
            page = await s3.ListObjectsV2Async(request, ct);
            foreach (var o in page.S3Objects ?? [])
            {
                var meta = await s3.GetObjectMetadataAsync(bucket, o.Key, ct);
                // No metadata yet: s3rver is still storing the object (it writes metadata last). Stop here; the next
                // refresh lists from the last counted key again and finds this one.
                if (!long.TryParse(meta.Metadata["record-count"], out var count)) return;
                Records += count;
                Objects++;
                _lastKeyByPrefix[prefix] = o.Key;
            }
            request.ContinuationToken = page.NextContinuationToken;
        } while (page.IsTruncated == true);
    }
}
