using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using System.Data.Common;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.Shared;

/// <summary>
/// Settings "S3:*", and the AppHost's connection string <c>ConnectionStrings:s3</c>
/// ("Endpoint=http://127.0.0.1:4566;Bucket=users-lake;AccessKey=...;SecretKey=..."), whose keys win over the section.
/// </summary>
public sealed class S3Options : IValidatedOptions
{
    public const string Section = "S3";

    /// <summary>Endpoint of an S3-compatible server (s3rver, LocalStack); empty means AWS itself.</summary>
    public string? ServiceUrl { get; set; }
    public string Bucket { get; set; } = "users-lake";
    public string Region { get; set; } = "us-east-1";
    /// <summary>Empty: the AWS SDK's default credential chain. Local development passes S3RVER/S3RVER.</summary>
    public string? AccessKey { get; set; }
    public string? SecretKey { get; set; }
    public bool ForcePathStyle { get; set; } = true;

    public IEnumerable<string> Validate(string section)
    {
        foreach (var m in Check.Required($"{section}:Bucket", Bucket)) yield return m;
        if (!string.IsNullOrWhiteSpace(ServiceUrl) && !Uri.TryCreate(ServiceUrl, UriKind.Absolute, out _))
            yield return $"{section}:ServiceUrl '{ServiceUrl}' is not an absolute URL.";
        if (string.IsNullOrEmpty(AccessKey) != string.IsNullOrEmpty(SecretKey))
            yield return $"{section}:AccessKey and {section}:SecretKey must be set together.";
    }

    /// <summary>Overwrites the settings named in an S3 connection string (unknown keys are an error naming them).</summary>
    public void ApplyConnectionString(string connectionString)
    {
        var parts = new DbConnectionStringBuilder { ConnectionString = connectionString };
        foreach (string key in parts.Keys)
        {
            var value = parts[key]?.ToString();
            switch (key.ToLowerInvariant())
            {
                case "endpoint": ServiceUrl = value; break;
                case "bucket": Bucket = value ?? Bucket; break;
                case "region": Region = value ?? Region; break;
                case "accesskey": AccessKey = value; break;
                case "secretkey": SecretKey = value; break;
                default:
                    throw new InvalidOperationException(
                        $"ConnectionStrings:{ConnectionNames.S3} has the unknown key '{key}' (known: Endpoint, Bucket, Region, AccessKey, SecretKey).");
            }
        }
    }

    public IAmazonS3 CreateClient()
    {
        var config = new AmazonS3Config
        {
            ForcePathStyle = ForcePathStyle,
            AuthenticationRegion = Region,
            // No extra CRC32 over every body (the SDK's default since 3.7.4xx/4.x): a PUT of megabytes already has its
            // Content-Length, TLS protects it on the way, and the checksum cost the S3 sink CPU and buffer memory.
            RequestChecksumCalculation = Amazon.Runtime.RequestChecksumCalculation.WHEN_REQUIRED,
        };
        if (!string.IsNullOrWhiteSpace(ServiceUrl)) config.ServiceURL = ServiceUrl;
        else config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(Region);
        return string.IsNullOrEmpty(AccessKey)
            ? new AmazonS3Client(config)
            : new AmazonS3Client(new BasicAWSCredentials(AccessKey, SecretKey), config);
    }
}

public static class S3Extensions
{
    /// <summary>
    /// Binds and validates <see cref="S3Options"/> from the "S3" section, then applies <c>ConnectionStrings:s3</c> when
    /// it is set (what the AppHost injects).
    /// </summary>
    public static OptionsBuilder<S3Options> AddS3Options(this IHostApplicationBuilder builder)
    {
        var options = builder.AddValidatedOptions<S3Options>(S3Options.Section);
        if (builder.Configuration.GetConnectionString(ConnectionNames.S3) is { Length: > 0 } connectionString)
            options.Configure(o => o.ApplyConnectionString(connectionString));
        return options;
    }

    /// <summary>Creates the bucket unless it exists (idempotent; a concurrent creator is fine).</summary>
    public static async Task EnsureBucketAsync(this IAmazonS3 s3, string bucket, CancellationToken ct)
    {
        try
        {
            await s3.PutBucketAsync(new PutBucketRequest { BucketName = bucket }, ct);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists")
        {
        }
    }

    /// <summary>
    /// PUT with a plain (not aws-chunked) body: s3rver and some S3-compatible servers store the chunk framing as
    /// object bytes otherwise (AWSSDK v4 default).
    /// </summary>
    public static PutObjectRequest PlainPut(string bucket, string key, ReadOnlyMemory<byte> body, string contentType) =>
        // Over the caller's buffer, not a copy: objects are megabytes and the sink keeps its memory low.
        PlainPut(bucket, key, System.Runtime.InteropServices.MemoryMarshal.TryGetArray(body, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(body.ToArray(), writable: false), contentType, closeStream: true);

    /// <summary>The same from a stream, read from its current position; <paramref name="closeStream"/> false leaves it to the caller.</summary>
    public static PutObjectRequest PlainPut(string bucket, string key, Stream body, string contentType, bool closeStream) => new()
    {
        BucketName = bucket,
        Key = key,
        InputStream = body,
        ContentType = contentType,
        UseChunkEncoding = false,
        AutoCloseStream = closeStream,
    };
}
