using Amazon.S3;
using KafkaPipeline.Shared;
using MySqlConnector;
using Npgsql;

namespace KafkaPipeline.IntegrationTests.Infrastructure;

/// <summary>
/// The real servers ./test.sh starts (eng/servers.sh, test profile) and per-test databases and buckets on them.
/// Each test gets its own uniquely named database or bucket, so tests can run in parallel and never see each
/// other's data. Nothing is dropped afterwards: ./test.sh starts from an empty data directory every time.
/// </summary>
public static class TestServers
{
    public const string S3AccessKey = "S3RVER";
    public const string S3SecretKey = "S3RVER";

    /// <summary>Npgsql connection string of the TEST database (user TEST: LOGIN REPLICATION CREATEDB).</summary>
    public static string Postgres => Require("KP_TEST_POSTGRES");

    /// <summary>MySql.Data connection string of the TEST database (user TEST may create databases).</summary>
    public static string MySql => Require("KP_TEST_MYSQL");

    /// <summary>s3rver endpoint, e.g. http://127.0.0.1:54566.</summary>
    public static string S3Url => Require("KP_TEST_S3_URL");

    /// <summary>A short unique lower-case name, valid as a PostgreSQL/MySQL identifier: kp_{prefix}_{12 hex}.</summary>
    public static string UniqueName(string prefix) =>
        $"kp_{prefix.ToLowerInvariant()}_{Guid.NewGuid():N}"[..(prefix.Length + 16)];

    /// <summary>Creates an empty PostgreSQL database owned by TEST and returns its connection string.</summary>
    public static async Task<string> CreatePostgresDatabaseAsync(string prefix = "pg")
    {
        var name = UniqueName(prefix);
        await using (var connection = new NpgsqlConnection(Postgres))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {SqlIdentifier.QuotePostgres(name)}", connection);
            await create.ExecuteNonQueryAsync();
        }
        return new NpgsqlConnectionStringBuilder(Postgres) { Database = name }.ConnectionString;
    }

    /// <summary>The Database= part of a connection string.</summary>
    /// <summary>Runs each statement in turn on one connection.</summary>
    public static async Task ExecutePostgresAsync(string connectionString, params string[] statements)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        foreach (var sql in statements)
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            await cmd.ExecuteNonQueryAsync();
        }
    }

    public static string DatabaseName(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString).Database ?? throw new ArgumentException("no database in the connection string");

    /// <summary>
    /// Drops the replication slots of the connection string's database (slots are cluster-wide, keep WAL, and are few:
    /// max_replication_slots). A slot whose walsender is still ending (its source was just killed) is waited for.
    /// </summary>
    public static async Task DropReplicationSlotsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            await using var drop = new NpgsqlCommand("""
                SELECT count(pg_drop_replication_slot(slot_name)) FILTER (WHERE NOT active), count(*) FILTER (WHERE active)
                FROM pg_replication_slots WHERE database = current_database()
                """, connection);
            await using var reader = await drop.ExecuteReaderAsync();
            await reader.ReadAsync();
            if (reader.GetInt64(1) == 0 || DateTime.UtcNow > deadline) return;
            await reader.DisposeAsync();
            await Task.Delay(200);
        }
    }

    /// <summary>
    /// A login role of its own (kp_{prefix}_{hex}) with <paramref name="attributes"/> (e.g. NOREPLICATION), which the TEST role
    /// may act as (test profile: TEST has CREATEROLE). Returns the role's name and a connection string for it.
    /// </summary>
    public static async Task<(string Role, string ConnectionString)> CreateRoleAsync(string prefix, string database, string attributes = "")
    {
        var role = UniqueName(prefix);
        const string password = "role-password";
        await using (var connection = new NpgsqlConnection(Postgres))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand(
                $"CREATE ROLE {SqlIdentifier.QuotePostgres(role)} LOGIN PASSWORD '{password}' {attributes}; " +
                $"GRANT {SqlIdentifier.QuotePostgres(role)} TO CURRENT_USER", connection);
            await create.ExecuteNonQueryAsync();
        }
        return (role, new NpgsqlConnectionStringBuilder(Postgres) { Username = role, Password = password, Database = database }.ConnectionString);
    }

    /// <summary>Creates an empty utf8mb4 MySQL database and returns its connection string.</summary>
    public static async Task<string> CreateMySqlDatabaseAsync(string prefix = "my")
    {
        var name = UniqueName(prefix);
        await using (var connection = new MySqlConnection(MySql))
        {
            await connection.OpenAsync();
            await using var create = new MySqlCommand(
                $"CREATE DATABASE {SqlIdentifier.QuoteMySql(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", connection);
            await create.ExecuteNonQueryAsync();
        }
        return new MySqlConnectionStringBuilder(MySql) { Database = name }.ConnectionString;
    }

    /// <summary>The settings a service would get for s3rver (S3__ServiceUrl, S3__AccessKey, ...).</summary>
    public static S3Options S3Options(string bucket) => new()
    {
        ServiceUrl = S3Url,
        Bucket = bucket,
        AccessKey = S3AccessKey,
        SecretKey = S3SecretKey,
        ForcePathStyle = true,
    };

    /// <summary>
    /// A client for s3rver (ServiceURL, path-style, S3RVER/S3RVER). Remember: PUT with UseChunkEncoding = false
    /// (S3Extensions.PlainPut), or s3rver stores the aws-chunked framing as the object's bytes.
    /// </summary>
    public static IAmazonS3 CreateS3Client() => S3Options("unused").CreateClient();

    /// <summary>Creates an empty bucket with a unique name (kp-{prefix}-{12 hex}) and returns a client for it.</summary>
    public static async Task<TestBucket> CreateS3BucketAsync(string prefix = "s3")
    {
        var name = UniqueName(prefix).Replace('_', '-');
        var client = CreateS3Client();
        await client.EnsureBucketAsync(name, CancellationToken.None);
        return new TestBucket(client, name);
    }

    private static string Require(string variable) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{variable} is not set: run ./test.sh (it starts PostgreSQL, MariaDB and s3rver on their test ports and " +
                "exports KP_TEST_POSTGRES, KP_TEST_MYSQL and KP_TEST_S3_URL). By hand: " +
                "`source eng/test-env.sh && eng/servers.sh start test`, then dotnet test in that shell.");
}

/// <summary>A bucket created for one test and a client for it.</summary>
public sealed record TestBucket(IAmazonS3 Client, string Name) : IDisposable
{
    public void Dispose() => Client.Dispose();
}
