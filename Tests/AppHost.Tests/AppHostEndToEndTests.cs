using System.Text;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using MySqlConnector;

namespace KafkaPipeline.AppHost.Tests;

// Starts the whole AppHost (containers and services) and follows one generated user to both sinks.
[Trait("Category", "RequiresDocker")]
public sealed class AppHostEndToEndTests
{
    // Image pulls on a first run take minutes; this bounds a hung run, it is not a speed assertion.
    private static readonly TimeSpan s_deadline = TimeSpan.FromMinutes(10);

    [RequiresDockerFact]
    public async Task A_generated_user_arrives_in_MySQL_and_in_LocalStack_S3()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        var ct = cts.Token;

        var appHost = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(ct);
        await using var app = await appHost.BuildAsync(ct);
        await app.StartAsync(ct);
        foreach (var service in new[] { "generator", "source", "mysql-sink", "s3-sink" })
        {
            await app.ResourceNotifications.WaitForResourceHealthyAsync(service, ct);
        }

        // MySQL: the sink's table fills as the generator (1 user/s by default) produces users.
        var mysql = await app.GetConnectionStringAsync("emaildb", ct)
            ?? throw new InvalidOperationException("emaildb has no connection string");
        var user = await PollAsync(() => FirstUserAsync(mysql, ct), ct);
        Assert.True(user.Id > 0);

        // LocalStack S3: the same user appears in an object under topics/P_USERS/ (JSON lines).
        using var s3 = new AmazonS3Client(
            new BasicAWSCredentials("test", "test"),
            new AmazonS3Config
            {
                ServiceURL = app.GetEndpoint("localstack", "http").ToString(),
                ForcePathStyle = true,
                AuthenticationRegion = "us-east-1",
            });
        var key = await PollAsync(() => ObjectContainingAsync(s3, "users-lake", "topics/P_USERS/", user.Mail, ct), ct);
        Assert.StartsWith("topics/P_USERS/", key, StringComparison.Ordinal);
    }

    private static async Task<UserRow?> FirstUserAsync(string connectionString, CancellationToken ct)
    {
        try
        {
            await using var connection = new MySqlConnection(connectionString);
            await connection.OpenAsync(ct);
            await using var command = new MySqlCommand("SELECT id, mail FROM users ORDER BY id LIMIT 1", connection);
            await using var reader = await command.ExecuteReaderAsync(ct);
            return await reader.ReadAsync(ct) ? new UserRow(reader.GetInt64(0), reader.GetString(1)) : null;
        }
        catch (MySqlException e) when (e.Number == 1146) // table not created yet
        {
            return null;
        }
    }

    private static async Task<string?> ObjectContainingAsync(IAmazonS3 s3, string bucket, string prefix, string text, CancellationToken ct)
    {
        ListObjectsV2Response listing;
        try
        {
            listing = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = prefix }, ct);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket")
        {
            return null;
        }

        var needle = Encoding.UTF8.GetBytes(text);
        foreach (var entry in listing.S3Objects ?? [])
        {
            using var response = await s3.GetObjectAsync(bucket, entry.Key, ct);
            using var body = new MemoryStream();
            await response.ResponseStream.CopyToAsync(body, ct);
            if (body.ToArray().AsSpan().IndexOf(needle) >= 0) return entry.Key;
        }
        return null;
    }

    private static async Task<T> PollAsync<T>(Func<Task<T?>> probe, CancellationToken ct) where T : class
    {
        while (true)
        {
            if (await probe() is { } found) return found;
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }

    private sealed record UserRow(long Id, string Mail);
}
