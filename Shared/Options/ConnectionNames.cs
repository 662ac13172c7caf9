using Microsoft.Extensions.Configuration;

namespace KafkaPipeline.Shared;

/// <summary>The connection-string names every run mode uses (./run.sh, the tests and the Aspire AppHost inject the same).</summary>
public static class ConnectionNames
{
    public const string Postgres = "usersdb";
    public const string Kafka = "kafka";
    public const string MySql = "emaildb";
    /// <summary>S3-compatible store: "Endpoint=...;Bucket=...;AccessKey=...;SecretKey=..." (see S3Options).</summary>
    public const string S3 = "s3";

    /// <summary>Reads <c>ConnectionStrings:{name}</c> or fails naming the setting.</summary>
    public static string Require(IConfiguration configuration, string name)
    {
        var value = configuration.GetConnectionString(name);
        return string.IsNullOrWhiteSpace(value)
            ? throw new InvalidOperationException(
                $"Missing setting ConnectionStrings:{name} (environment variable ConnectionStrings__{name}).")
            : value;
    }
}
