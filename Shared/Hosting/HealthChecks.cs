using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using MySqlConnector;

namespace KafkaPipeline.Shared;

/// <summary>
/// Readiness checks for the servers a service needs; /health reports them (ServiceDefaults maps the endpoint).
/// PostgreSQL's comes with Aspire.Npgsql and Kafka's with <see cref="KafkaClients"/>; these two are written here because
/// no served package has them (AspNetCore.HealthChecks.MySql and .Aws.S3 are not served on our machines).
/// </summary>
public static class PipelineHealthChecks
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(3);

    public static IHealthChecksBuilder AddMySql(this IHealthChecksBuilder checks, string connectionString) =>
        checks.AddAsyncCheck("mysql", async ct =>
        {
            try
            {
                await using var conn = new MySqlConnection(connectionString);
                await conn.OpenAsync(ct);
                await using var cmd = new MySqlCommand("SELECT 1", conn);
                await cmd.ExecuteScalarAsync(ct);
                return HealthCheckResult.Healthy();
            }
            catch (Exception e) { return HealthCheckResult.Unhealthy("MySQL unreachable", e); }
        }, ["ready"], s_timeout);

    /// <summary>The bucket of the configured <see cref="S3Options"/> answers a listing.</summary>
    public static IHealthChecksBuilder AddS3(this IHealthChecksBuilder checks) =>
        checks.AddCheck<S3HealthCheck>("s3", failureStatus: null, ["ready"], s_timeout);

    private sealed class S3HealthCheck(IOptions<S3Options> options) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
        {
            var o = options.Value;
            try
            {
                using var s3 = o.CreateClient();
                await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = o.Bucket, MaxKeys = 1 }, ct);
                return HealthCheckResult.Healthy();
            }
            catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket")
            {
                return HealthCheckResult.Degraded($"bucket {o.Bucket} does not exist yet");
            }
            catch (Exception e) { return HealthCheckResult.Unhealthy("S3 unreachable", e); }
        }
    }
}
