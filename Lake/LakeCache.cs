using System.Globalization;
using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using KafkaPipeline.S3SinkService;
using KafkaPipeline.Shared;

namespace KafkaPipeline.Lake;

/// <summary>One object of the lake in the local cache.</summary>
public sealed record CachedObject(string Key, string Path, ParsedKey Parsed);

/// <summary>
/// The lake's objects (keys of the S3 sink's layout under the topics folder, listed as the Monitor lists them:
/// <see cref="LakeListing"/>), fetched once into a local folder: objects are
/// written once, so a cached copy is never stale. An object under the topics folder that is not of the sink's layout is
/// reported and skipped; so is one still being stored (s3rver writes the metadata last) until a later run.
/// </summary>
public sealed class LakeCache(IAmazonS3 s3, string bucket, string topicsDir, string folder, TextWriter messages)
{
    private const int Parallel = 8;

    /// <summary>Every object of the lake, fetched where not cached yet; the folder is made private to the user.</summary>
    public async Task<List<CachedObject>> FetchAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(folder);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var objects = new List<CachedObject>();
        var missing = new List<CachedObject>();
        var listing = new LakeListing(s3, bucket, topicsDir);
        await listing.RefreshAsync((o, _) =>
        {
            if (!ObjectKeys.TryParse(o.Key, out var parsed))
            {
                Skipped(o.Key);
                return Task.FromResult(true);
            }
            var cached = new CachedObject(o.Key, System.IO.Path.Combine(folder, o.Key.Replace('/', System.IO.Path.DirectorySeparatorChar)), parsed);
            objects.Add(cached);
            if (!File.Exists(cached.Path)) missing.Add(cached);
            return Task.FromResult(true);
        }, findFolders: true, ct);
        foreach (var key in listing.Outside) Skipped(key);

        var fetched = 0;
        var incomplete = new HashSet<string>(StringComparer.Ordinal);
        await System.Threading.Tasks.Parallel.ForEachAsync(missing, new ParallelOptions { MaxDegreeOfParallelism = Parallel, CancellationToken = ct }, async (o, token) =>
        {
            if (!await DownloadAsync(o, token))
                lock (incomplete) incomplete.Add(o.Key);
            var n = Interlocked.Increment(ref fetched);
            if (n % 100 == 0 || n == missing.Count) messages.WriteLine($"lake: fetched {n} of {missing.Count} new objects ({objects.Count} in the lake)");
        });
        return [.. objects.Where(o => !incomplete.Contains(o.Key))];
    }

    private void Skipped(string key) =>
        messages.WriteLine($"lake: skipped {key}: not an object of the S3 sink (topics/<topic>/partition=<p>/<topic>+<p>+<offset>.json|.parquet)");

    private async Task<bool> DownloadAsync(CachedObject o, CancellationToken ct)
    {
        try
        {
            using var get = await s3.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = o.Key }, ct);
            if (!long.TryParse(get.Metadata[ObjectMetadata.EndOffset], NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                messages.WriteLine($"lake: skipped {o.Key}: it has no end-offset metadata (still being stored, or not written by the S3 sink)");
                return false;
            }
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(o.Path)!);
            var partial = o.Path + ".partial-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
            await using (var file = File.Create(partial)) await get.ResponseStream.CopyToAsync(file, ct);
            File.Move(partial, o.Path, overwrite: true); // whole or not at all: a cut-off run leaves no half object in the cache
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            messages.WriteLine($"lake: skipped {o.Key}: removed from the bucket while the lake was read");
            return false;
        }
    }

    /// <summary>The default cache folder: ~/.cache/kafkapipeline/lake/&lt;endpoint&gt;/&lt;bucket&gt; (one per store and bucket).</summary>
    public static string DefaultFolder(string? serviceUrl, string bucket)
    {
        var home = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
            : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        var store = string.IsNullOrWhiteSpace(serviceUrl) ? "aws" : string.Concat(new Uri(serviceUrl).Authority.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? c : '_'));
        return System.IO.Path.Combine(home, "kafkapipeline", "lake", store, bucket);
    }
}
