using Amazon.S3;
using KafkaPipeline.Shared;

namespace KafkaPipeline.Monitor;

/// <summary>
/// Records and objects the S3 sink has stored for one topic, read incrementally (<see cref="LakeListing"/>): each new
/// object is asked for its record-count metadata once, so a status line every 5 s costs a few small requests however
/// large the bucket grows.
/// </summary>
public sealed class LakeProgress(IAmazonS3 s3, string bucket, string topicsDir, string topic)
{
    private static readonly TimeSpan s_partitionRefresh = TimeSpan.FromSeconds(60);
    private readonly LakeListing _listing = new(s3, bucket, $"{topicsDir.Trim('/')}/{topic}/");
    private DateTime _nextPartitionRefresh = DateTime.MinValue;

    public string Prefix => _listing.Prefix;
    public long Records { get; private set; }
    public long Objects { get; private set; }

    public async Task<(long Records, long Objects)> RefreshAsync(CancellationToken ct)
    {
        var findFolders = DateTime.UtcNow >= _nextPartitionRefresh;
        await _listing.RefreshAsync(CountAsync, findFolders, ct);
        if (findFolders) _nextPartitionRefresh = DateTime.UtcNow + s_partitionRefresh;
        return (Records, Objects);
    }

    private async Task<bool> CountAsync(Amazon.S3.Model.S3Object o, CancellationToken ct)
    {
        var meta = await s3.GetObjectMetadataAsync(bucket, o.Key, ct);
        // No metadata yet: s3rver is still storing the object (it writes metadata last). Not taken: the next refresh
        // lists from the last counted key again and finds this one.
        if (!long.TryParse(meta.Metadata["record-count"], out var count)) return false;
        Records += count;
        Objects++;
        return true;
    }
}
