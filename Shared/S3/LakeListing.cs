using Amazon.S3;
using Amazon.S3.Model;

namespace KafkaPipeline.Shared;

/// <summary>
/// The S3 sink's objects under a prefix (a topics folder, or one topic's folder), listed incrementally: each
/// <c>partition=N/</c> folder is listed only after the last key already taken (StartAfter; keys end in the 10-digit
/// start offset, so they sort in offset order within a partition). A refresh thus costs a few small requests however
/// large the bucket grows. The one way the Monitor and the Lake command walk the lake.
/// </summary>
public sealed class LakeListing(IAmazonS3 s3, string bucket, string prefix)
{
    private const string PartitionFolder = "partition=";
    private readonly SortedDictionary<string, string?> _lastKey = new(StringComparer.Ordinal); // partition folder -> last key taken
    private readonly HashSet<string> _outside = new(StringComparer.Ordinal);

    public string Prefix { get; } = prefix.Trim('/') + "/";

    /// <summary>Keys found under the prefix but outside any partition folder: not of the sink's layout.</summary>
    public IReadOnlyCollection<string> Outside => _outside;

    /// <summary>
    /// Looks for partition folders (again when <paramref name="findFolders"/>), then hands every object after the last
    /// one taken to <paramref name="take"/>, in key order per partition; an object it refuses (false) and the rest of its
    /// partition are offered again at the next refresh.
    /// </summary>
    public async Task RefreshAsync(Func<S3Object, CancellationToken, Task<bool>> take, bool findFolders, CancellationToken ct)
    {
        if (findFolders || _lastKey.Count == 0) await FindPartitionFoldersAsync(ct);
        foreach (var folder in _lastKey.Keys.ToList()) await TakeNewAsync(folder, take, ct);
    }

    private async Task TakeNewAsync(string folder, Func<S3Object, CancellationToken, Task<bool>> take, CancellationToken ct)
    {
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = folder, StartAfter = _lastKey[folder] };
        ListObjectsV2Response page;
        do
        {
            page = await s3.ListObjectsV2Async(request, ct);
            foreach (var o in page.S3Objects ?? [])
            {
                if (!await take(o, ct)) return;
                _lastKey[folder] = o.Key;
            }
            request.ContinuationToken = page.NextContinuationToken;
        } while (page.IsTruncated == true);
    }

    /// <summary>
    /// The partition=N/ folders under the prefix, found by skipping through the keys: one key at a time, then on past
    /// the rest of its folder ('~' sorts after every character of the sink's keys). A delimiter listing would do it in
    /// fewer requests on S3 but s3rver answers it only for folders that hold objects themselves.
    /// </summary>
    private async Task FindPartitionFoldersAsync(CancellationToken ct)
    {
        string? after = null;
        while (true)
        {
            var page = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = Prefix, StartAfter = after, MaxKeys = 1 }, ct);
            if (page.S3Objects is not [var first, ..]) return;
            var folder = first.Key[..(first.Key.LastIndexOf('/') + 1)];
            if (folder.TrimEnd('/').Split('/')[^1].StartsWith(PartitionFolder, StringComparison.Ordinal))
            {
                _lastKey.TryAdd(folder, null);
                after = folder + "~";
            }
            else
            {
                _outside.Add(first.Key);
                after = first.Key;
            }
        }
    }
}
