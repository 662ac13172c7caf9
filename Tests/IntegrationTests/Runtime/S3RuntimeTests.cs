using System.Security.Cryptography;
using Amazon.S3.Model;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.Shared;

namespace KafkaPipeline.IntegrationTests.Runtime;

// The s3rver that ./test.sh starts, through AWSSDK.S3 v4. Objects are read back and compared byte for byte:
// with the SDK's default aws-chunked upload s3rver would answer 200 and store the chunk framing as the data.
public sealed class S3RuntimeTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(5 * 1024)]
    [InlineData(3 * 1024 * 1024 + 17)]
    public async Task Object_bytes_read_back_equal_and_are_listed(int size)
    {
        using var bucket = await TestServers.CreateS3BucketAsync();
        var body = RandomNumberGenerator.GetBytes(size);
        var key = $"users/date=2024-01-01/part-{size}.jsonl";

        await bucket.Client.PutObjectAsync(S3Extensions.PlainPut(bucket.Name, key, body, "application/x-ndjson"));

        using (var get = await bucket.Client.GetObjectAsync(bucket.Name, key))
        using (var copy = new MemoryStream())
        {
            await get.ResponseStream.CopyToAsync(copy);
            Assert.Equal(body, copy.ToArray());
            Assert.Equal("application/x-ndjson", get.Headers.ContentType);
        }

        var list = await bucket.Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket.Name, Prefix = "users/" });
        var listed = Assert.Single(list.S3Objects);
        Assert.Equal(key, listed.Key);
        Assert.Equal(size, listed.Size);
    }

    [Fact]
    public async Task User_metadata_round_trips()
    {
        using var bucket = await TestServers.CreateS3BucketAsync();
        var put = S3Extensions.PlainPut(bucket.Name, "batch.jsonl", "{\"id\":1}\n"u8.ToArray(), "application/x-ndjson");
        put.Metadata.Add("record-count", "1");
        put.Metadata.Add("x-amz-meta-last-offset", "P_USERS/3/41");
        await bucket.Client.PutObjectAsync(put);

        var head = await bucket.Client.GetObjectMetadataAsync(bucket.Name, "batch.jsonl");

        Assert.Equal("1", head.Metadata["record-count"]);
        Assert.Equal("1", head.Metadata["x-amz-meta-record-count"]);
        Assert.Equal("P_USERS/3/41", head.Metadata["last-offset"]);
        Assert.Equal(9, head.ContentLength);
    }

    [Fact]
    public async Task Listing_pages_through_many_objects()
    {
        using var bucket = await TestServers.CreateS3BucketAsync();
        for (var i = 0; i < 25; i++)
            await bucket.Client.PutObjectAsync(S3Extensions.PlainPut(bucket.Name, $"k/{i:D3}", new[] { (byte)i }, "application/octet-stream"));

        var keys = new List<string>();
        var request = new ListObjectsV2Request { BucketName = bucket.Name, MaxKeys = 10 };
        ListObjectsV2Response page;
        do
        {
            page = await bucket.Client.ListObjectsV2Async(request);
            keys.AddRange(page.S3Objects.Select(o => o.Key));
            request.ContinuationToken = page.NextContinuationToken;
        } while (page.IsTruncated == true);

        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"k/{i:D3}"), keys);
    }
}
