using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.Shared;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Xunit.Abstractions;

namespace KafkaPipeline.IntegrationTests.Schema;

/// <summary>The users table's schema steps (Shared/Postgres/UsersSchema.cs) against the real PostgreSQL.</summary>
public sealed class UsersSchemaTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Creates_table_index_function_and_trigger_once_and_a_second_start_changes_nothing()
    {
        var cs = await TestServers.CreatePostgresDatabaseAsync("schema");
        await EnsureAsync(cs);
        var before = await ObjectIdsAsync(cs);
        await ExecuteAsync(cs, InsertSql("first"));

        await EnsureAsync(cs);
        Assert.Equal(before, await ObjectIdsAsync(cs)); // nothing dropped and recreated
        Assert.Equal(1L, await ScalarAsync(cs, "SELECT count(*) FROM users"));
    }

    [Fact]
    public async Task A_start_while_writers_hold_the_table_does_not_wait_for_them()
    {
        var cs = await TestServers.CreatePostgresDatabaseAsync("schema");
        await EnsureAsync(cs);
        await ExecuteAsync(cs, InsertSql("held"));

        // A writer holds a row lock and ROW EXCLUSIVE on users; dropping or replacing the trigger would wait for it.
        await using var writer = new NpgsqlConnection(cs);
        await writer.OpenAsync();
        await using var tx = await writer.BeginTransactionAsync();
        await using (var update = new NpgsqlCommand("UPDATE users SET job = 'held'", writer, tx)) await update.ExecuteNonQueryAsync();

        await EnsureAsync(cs).WaitAsync(Hang); // a TimeoutException here means the start blocked behind the writer
        await tx.CommitAsync();
    }

    [Fact]
    public async Task The_trigger_sets_updated_at_on_insert_and_on_update()
    {
        var cs = await TestServers.CreatePostgresDatabaseAsync("schema");
        await EnsureAsync(cs);
        await using var connection = new NpgsqlConnection(cs);
        await connection.OpenAsync();

        // An insert that brings an old updated_at (a copy from elsewhere, a buggy writer) gets the transaction's time.
        await using var insert = new NpgsqlCommand(InsertSql("old", "'2001-01-01 00:00:00+00'") + " RETURNING id, updated_at, now()", connection);
        long id;
        DateTime inserted;
        await using (var r = await insert.ExecuteReaderAsync())
        {
            await r.ReadAsync();
            id = r.GetInt64(0);
            inserted = r.GetDateTime(1);
            Assert.Equal(r.GetDateTime(2), inserted);
        }

        await using var update = new NpgsqlCommand("UPDATE users SET job = 'changed', updated_at = '2001-01-01' WHERE id = @id RETURNING updated_at, now()", connection);
        update.Parameters.AddWithValue("id", id);
        await using var u = await update.ExecuteReaderAsync();
        await u.ReadAsync();
        Assert.Equal(u.GetDateTime(1), u.GetDateTime(0));
        Assert.True(u.GetDateTime(0) > inserted);
    }

    [Fact]
    public async Task A_trigger_of_an_older_version_that_covers_update_only_is_extended_to_insert()
    {
        var cs = await TestServers.CreatePostgresDatabaseAsync("schema");
        await EnsureAsync(cs);
        await ExecuteAsync(cs, """
            DROP TRIGGER users_touch_updated_at ON users;
            CREATE TRIGGER users_touch_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION kafkapipeline_touch_updated_at();
            """);
        await ExecuteAsync(cs, InsertSql("before", "'2001-01-01 00:00:00+00'"));
        Assert.Equal(new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc), await ScalarAsync(cs, "SELECT max(updated_at) FROM users"));

        await EnsureAsync(cs);
        await ExecuteAsync(cs, InsertSql("after", "'2001-01-01 00:00:00+00'"));
        Assert.Equal(1L, await ScalarAsync(cs, "SELECT count(*) FROM users WHERE updated_at = '2001-01-01 00:00:00+00'"));
        Assert.Equal(1L, await ScalarAsync(cs, "SELECT count(*) FROM pg_trigger WHERE tgname = 'users_touch_updated_at'"));
    }

    [Fact]
    public async Task A_role_that_may_not_create_the_table_gets_the_missing_right_named_and_nothing_is_created()
    {
        var cs = await TestServers.CreatePostgresDatabaseAsync("schema");
        var (role, roleCs) = await TestServers.CreateRoleAsync("nocreate", TestServers.DatabaseName(cs));

        var e = await Assert.ThrowsAsync<NotRetriableException>(() => EnsureAsync(roleCs).WaitAsync(Hang));
        output.WriteLine(e.Message);
        Assert.Contains($"GRANT CREATE ON SCHEMA \"public\" TO \"{role}\"", e.Message, StringComparison.Ordinal);
        Assert.Null(await ScalarAsync(cs, "SELECT to_regclass('users')::text"));
    }

    [Fact]
    public async Task A_role_that_does_not_own_the_table_gets_the_missing_right_named_for_the_trigger()
    {
        var cs = await TestServers.CreatePostgresDatabaseAsync("schema");
        await EnsureAsync(cs);
        var (role, roleCs) = await TestServers.CreateRoleAsync("notowner", TestServers.DatabaseName(cs));
        // The table exists (created by its owner) but its trigger is missing; the service's role may only read and write.
        await ExecuteAsync(cs, $"DROP TRIGGER users_touch_updated_at ON users; GRANT SELECT, INSERT, UPDATE ON users TO \"{role}\"");

        var e = await Assert.ThrowsAsync<NotRetriableException>(() => EnsureAsync(roleCs).WaitAsync(Hang));
        output.WriteLine(e.Message);
        Assert.Contains($"GRANT TRIGGER ON TABLE \"users\" TO \"{role}\"", e.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await ScalarAsync(cs, "SELECT count(*) FROM pg_trigger WHERE tgname = 'users_touch_updated_at'"));
    }

    [Fact]
    public async Task The_generator_stops_with_the_message_instead_of_retrying_a_permission_error()
    {
        var cs = await TestServers.CreatePostgresDatabaseAsync("schema");
        var (role, roleCs) = await TestServers.CreateRoleAsync("nocreate", TestServers.DatabaseName(cs));
        await using var generator = ServiceProcess.Start("Generator", new Dictionary<string, string?>
        {
            ["ConnectionStrings__usersdb"] = roleCs,
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
        }, output);

        Assert.Equal(1, await generator.WaitForExitAsync(Hang));
        Assert.Contains($"Stopping: Role \"{role}\" may not create table \"users\"", generator.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Waiting for PostgreSQL", generator.Output, StringComparison.Ordinal);
    }

    private static async Task EnsureAsync(string cs)
    {
        await using var db = NpgsqlDataSource.Create(cs);
        await UsersSchema.EnsureAsync(db, "users", NullLogger.Instance, CancellationToken.None);
    }

    private static async Task<(uint, uint, uint, uint)> ObjectIdsAsync(string cs)
    {
        await using var connection = new NpgsqlConnection(cs);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            SELECT 'users'::regclass::oid, 'users_updated_at_id'::regclass::oid, 'kafkapipeline_touch_updated_at()'::regprocedure::oid,
                   (SELECT oid FROM pg_trigger WHERE tgname = 'users_touch_updated_at')
            """, connection);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        return (r.GetFieldValue<uint>(0), r.GetFieldValue<uint>(1), r.GetFieldValue<uint>(2), r.GetFieldValue<uint>(3));
    }

    private static string InsertSql(string job, string? updatedAt = null) => $"""
        INSERT INTO users (name, username, sex, address, mail, birthdate, job, company, ssn, residence{(updatedAt is null ? "" : ", updated_at")})
        VALUES ('Schema Test', 'schema', 'F', 'Street 1', 'schema@example.com', '1990-01-01', '{job}', 'Co', '000-00-0000', 'Nowhere'{(updatedAt is null ? "" : ", " + updatedAt)})
        """;

    private static async Task ExecuteAsync(string cs, string sql)
    {
        await using var connection = new NpgsqlConnection(cs);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<object?> ScalarAsync(string cs, string sql)
    {
        await using var connection = new NpgsqlConnection(cs);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        var value = await cmd.ExecuteScalarAsync();
        return value is DBNull ? null : value;
    }
}
