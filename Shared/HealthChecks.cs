using Amazon.S3;
using Amazon.S3.Model;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using MySqlConnector;
using Npgsql;

namespace KafkaPipeline.Shared;

/// <summary>
/// Readiness checks for the servers a service needs; /health reports them (ServiceDefaults maps the endpoint).
/// Written here because the AspNetCore.HealthChecks.* packages are not available on our machines.
/// </summary>
public static class PipelineHealthChecks
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(3);

    public static IHealthChecksBuilder AddPostgres(this IHealthChecksBuilder checks, string connectionString) =>
        checks.AddAsyncCheck("postgres", async ct =>
        {
            try
            {
                await using var conn = new NpgsqlConnection(connectionString);
                await conn.OpenAsync(ct);
                await using var cmd = new NpgsqlCommand("SELECT 1", conn);
                await cmd.ExecuteScalarAsync(ct);
                return HealthCheckResult.Healthy();
            }
            catch (Exception e) { return HealthCheckResult.Unhealthy("PostgreSQL unreachable", e); }
        }, ["ready"], s_timeout);

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

    public static IHealthChecksBuilder AddKafka(this IHealthChecksBuilder checks, string bootstrapServers) =>
        checks.AddCheck("kafka", () =>
        {
            try
            {
                using var admin = new AdminClientBuilder(new AdminClientConfig
                {
                    BootstrapServers = bootstrapServers,
                    SocketTimeoutMs = 2000,
                }).Build();
                var metadata = admin.GetMetadata(TimeSpan.FromSeconds(2));
                return metadata.Brokers.Count > 0
                    ? HealthCheckResult.Healthy($"{metadata.Brokers.Count} broker(s)")
                    : HealthCheckResult.Unhealthy("Kafka: no broker answered");
            }
            catch (Exception e) { return HealthCheckResult.Unhealthy("Kafka unreachable", e); }
        }, ["ready"], s_timeout);

    public static IHealthChecksBuilder AddS3(this IHealthChecksBuilder checks, S3Options options) =>
        checks.AddAsyncCheck("s3", async ct =>
        {
            try
            {
                using var s3 = options.CreateClient();
                await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = options.Bucket, MaxKeys = 1 }, ct);
                return HealthCheckResult.Healthy();
            }
            catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket")
            {
                return HealthCheckResult.Degraded($"bucket {options.Bucket} does not exist yet");
            }
            catch (Exception e) { return HealthCheckResult.Unhealthy("S3 unreachable", e); }
        }, ["ready"], s_timeout);
}
