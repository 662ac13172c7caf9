using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.Shared;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace KafkaPipeline.IntegrationTests.Cdc;

/// <summary>One committed change of a row: op c/u/d and the row after it (null for a delete).</summary>
public sealed record CommittedChange(long Seq, string Op, UserRecord? User);

/// <summary>
/// PostgreSQL's own record of every committed change: an AFTER ROW trigger on users writes each insert, update and
/// delete with the row as committed into users_audit, in the same transaction (a rollback leaves nothing). For one id,
/// audit order is commit order: a second writer of a row waits for the first one's commit (row lock) before its trigger runs.
/// </summary>
public static class ChangeAudit
{
    /// <summary>Creates the users table (as the services would) and the audit trigger; call before any row is written.</summary>
    public static async Task InstallAsync(string connectionString)
    {
        await using (var db = NpgsqlDataSource.Create(connectionString))
        {
            await UsersSchema.EnsureAsync(db, "users", NullLogger.Instance, CancellationToken.None);
        }
        var columns = string.Join(", ", UsersSchema.Columns);
        var values = string.Join(", ", UsersSchema.Columns.Select(c => "NEW." + c));
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand($"""
            CREATE TABLE users_audit (
                seq bigserial PRIMARY KEY, op text NOT NULL, id bigint NOT NULL, name text, username text, sex text, address text,
                mail text, birthdate date, job text, company text, ssn text, residence text, created_at timestamptz, updated_at timestamptz);
            CREATE FUNCTION users_audit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    INSERT INTO users_audit (op, id) VALUES ('d', OLD.id);
                    RETURN OLD;
                END IF;
                INSERT INTO users_audit (op, {columns}) VALUES (CASE TG_OP WHEN 'INSERT' THEN 'c' ELSE 'u' END, {values});
                RETURN NEW;
            END $$;
            CREATE TRIGGER users_audit AFTER INSERT OR UPDATE OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION users_audit();
            """, connection);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>Every committed change, per id in commit order.</summary>
    public static async Task<Dictionary<long, List<CommittedChange>>> ReadAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand($"SELECT {string.Join(", ", UsersSchema.Columns)}, op, seq FROM users_audit ORDER BY seq", connection);
        await using var reader = await cmd.ExecuteReaderAsync();
        var changes = new Dictionary<long, List<CommittedChange>>();
        while (await reader.ReadAsync())
        {
            var op = reader.GetString(13);
            var id = reader.GetInt64(0);
            var user = op == ChangeOp.Delete ? null : StoredUsers.FromPostgres(reader);
            if (!changes.TryGetValue(id, out var list)) changes[id] = list = [];
            list.Add(new CommittedChange(reader.GetInt64(14), op, user));
        }
        return changes;
    }
}
