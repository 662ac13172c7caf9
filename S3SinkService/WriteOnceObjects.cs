using System.Globalization;
using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using KafkaPipeline.Shared;

namespace KafkaPipeline.S3SinkService;

/// <summary>Another writer stored an object under the key first; it ends at <see cref="EndOffset"/>.</summary>
public sealed class ObjectExistsException(string key, long endOffset)
    : Exception($"{key} already exists (stored by another writer, ending at offset {endOffset})")
{
    public string Key { get; } = key;
    public long EndOffset { get; } = endOffset;
}

/// <summary>
/// Objects are written once: a PUT never replaces an object. Where the store supports conditional writes (AWS S3,
/// LocalStack) the PUT carries If-None-Match: * and the store refuses a second writer atomically. Where it does not
/// (s3rver), the sink asks first (HEAD) and writes only when the key is free; between that HEAD and the PUT another
/// writer could still store the key (docs/guarantees.md, "S3"). Which one applies is probed once at start.
/// </summary>
public sealed class WriteOnceObjects(IAmazonS3 s3, string bucket)
{
    public bool ConditionalWrites { get; private set; }

    /// <summary>
    /// Writes a probe object twice, the second time with If-None-Match: *, and removes it. Its key is outside the topics
    /// folder, so that readers of the lake never see it.
    /// </summary>
    public async Task ProbeAsync(CancellationToken ct)
    {
        var key = $"_kafkapipeline/conditional-write-probe-{Guid.NewGuid():N}";
        await s3.PutObjectAsync(S3Extensions.PlainPut(bucket, key, "probe"u8.ToArray(), "text/plain"), ct);
        try
        {
            var again = S3Extensions.PlainPut(bucket, key, "probe"u8.ToArray(), "text/plain");
            again.IfNoneMatch = "*";
            await s3.PutObjectAsync(again, ct);
            ConditionalWrites = false; // the store ignored the condition
        }
        catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.PreconditionFailed or HttpStatusCode.Conflict)
        {
            ConditionalWrites = true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.NotImplemented or HttpStatusCode.BadRequest)
        {
            ConditionalWrites = false;
        }
        finally
        {
            await s3.DeleteObjectAsync(bucket, key, ct);
        }
    }

    /// <summary>
    /// The check that must pass before <see cref="PutAsync"/> where the store has no conditional writes: throws
    /// <see cref="ObjectExistsException"/> when the key is taken.
    /// </summary>
    public async Task CheckFreeAsync(string key, CancellationToken ct)
    {
        if (ConditionalWrites) return;
        if (await EndOffsetAsync(key, ct) is long end) throw new ObjectExistsException(key, end);
    }

    /// <summary>Stores the object unless the key exists (<see cref="ObjectExistsException"/>).</summary>
    public async Task PutAsync(PutObjectRequest request, CancellationToken ct)
    {
        if (ConditionalWrites) request.IfNoneMatch = "*";
        try
        {
            await s3.PutObjectAsync(request, ct);
        }
        catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.PreconditionFailed or HttpStatusCode.Conflict)
        {
            throw new ObjectExistsException(request.Key, await EndOffsetAsync(request.Key, ct)
                ?? throw new InvalidOperationException($"{request.Key} exists but has no end-offset yet", e));
        }
    }

    /// <summary>The end-offset metadata of an existing object; null when there is no object (or it is still being stored).</summary>
    private async Task<long?> EndOffsetAsync(string key, CancellationToken ct)
    {
        try
        {
            var head = await s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = key }, ct);
            if (long.TryParse(head.Metadata[ObjectMetadata.EndOffset], NumberStyles.None, CultureInfo.InvariantCulture, out var end))
                return end;
            // s3rver writes the metadata after the data: an object without it is a PUT in progress. Try again later.
            throw new InvalidOperationException($"{key} exists without end-offset metadata (being stored?)");
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }
}
