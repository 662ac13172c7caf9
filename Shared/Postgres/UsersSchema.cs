using Microsoft.Extensions.Logging;
using Npgsql;

namespace KafkaPipeline.Shared;

/// <summary>
/// The PostgreSQL <c>users</c> table: identity id that never restarts (unlike the tutorial's pandas index),
/// UTC timestamps, and updated_at set by a trigger on INSERT and UPDATE so any writer's changes carry their time.
/// </summary>
public static class UsersSchema
{
    /// <summary>The trigger function, shared by every users table of a schema.</summary>
    public const string TouchFunction = "kafkapipeline_touch_updated_at";

    /// <summary>The columns in the order the source selects them and the sinks write them.</summary>
    public static readonly string[] Columns =
        ["id", "name", "username", "sex", "address", "mail", "birthdate", "job", "company", "ssn", "residence", "created_at", "updated_at"];

    /// <summary>The table's name and the names derived from it, each checked against PostgreSQL's 63-byte limit.</summary>
    public sealed record Names(string Table, string Index, string Trigger)
    {
        public static Names For(string table, string setting)
        {
            SqlIdentifier.Require(table, setting);
            return new Names(table,
                SqlIdentifier.RequireDerived(table + "_updated_at_id", setting),
                SqlIdentifier.RequireDerived(table + "_touch_updated_at", setting));
        }
    }

    /// <summary>Messages for options validation: the table name and every name derived from it.</summary>
    public static IEnumerable<string> Validate(string setting, string? table)
    {
        string? problem = null;
        try
        {
            Names.For(table!, setting);
        }
        catch (ArgumentException e)
        {
            problem = e.Message.Split(" (Parameter", 2)[0];
        }
        if (problem is not null) yield return problem;
    }

    /// <summary>
    /// Creates the table, its index, the trigger function and the trigger, each only when missing; nothing is dropped or
    /// replaced, so a start takes no lock that blocks writers once the schema exists. A trigger left by an older version
    /// that covers UPDATE only is extended to INSERT once. Safe when several services start together (advisory lock). A
    /// missing privilege throws <see cref="NotRetriableException"/> naming it; it is not retried.
    /// </summary>
    public static async Task EnsureAsync(NpgsqlDataSource db, string table, ILogger logger, CancellationToken ct)
    {
        var names = Names.For(table, "table");
        var t = SqlIdentifier.QuotePostgres(names.Table);
        var index = SqlIdentifier.QuotePostgres(names.Index);
        var trigger = SqlIdentifier.QuotePostgres(names.Trigger);
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await SchemaLock.TakeAsync(conn, tx, table, ct);

        string role, schema;
        bool hasTable, hasIndex, hasFunction;
        short? triggerType;
        await using (var state = new NpgsqlCommand("""
            SELECT current_user, current_schema(), to_regclass(@t) IS NOT NULL, to_regclass(@i) IS NOT NULL,
                   to_regprocedure(@f) IS NOT NULL,
                   (SELECT tgtype FROM pg_trigger WHERE tgrelid = to_regclass(@t) AND tgname = @trigger)
            """, conn, tx))
        {
            state.Parameters.AddWithValue("t", t);
            state.Parameters.AddWithValue("i", index);
            state.Parameters.AddWithValue("f", TouchFunction + "()");
            state.Parameters.AddWithValue("trigger", names.Trigger);
            await using var r = await state.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            role = r.GetString(0);
            schema = r.IsDBNull(1) ? "public" : r.GetString(1);
            hasTable = r.GetBoolean(2);
            hasIndex = r.GetBoolean(3);
            hasFunction = r.GetBoolean(4);
            triggerType = r.IsDBNull(5) ? null : r.GetInt16(5);
        }

        var createTrigger = $"""
            TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {t}
                FOR EACH ROW EXECUTE FUNCTION {TouchFunction}()
            """;
        async Task Step(string sql, Func<string> missingRight)
        {
            try
            {
                await using var cmd = new NpgsqlCommand(sql, conn, tx);
                await cmd.ExecuteNonQueryAsync(ct);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
            {
                throw new NotRetriableException($"{missingRight()} (PostgreSQL: {e.MessageText}). Nothing was changed.", e);
            }
            catch (PostgresException e) when (e.SqlState.StartsWith("42", StringComparison.Ordinal))
            {
                // Class 42 (an object or column that is not as expected): the same statement would fail again.
                throw new NotRetriableException(
                    $"Table {t} exists but is not the users table this pipeline expects (PostgreSQL: {e.MessageText}; " +
                    $"columns: {string.Join(", ", Columns)}, trace_parent). Fix the table or set another table name. Nothing was changed.", e);
            }
        }

        if (!hasTable)
        {
            await Step($"""
                CREATE TABLE IF NOT EXISTS {t} (
                    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    name        text NOT NULL,
                    username    text NOT NULL,
                    sex         text NOT NULL,
                    address     text NOT NULL,
                    mail        text NOT NULL,
                    birthdate   date NOT NULL,
                    job         text NOT NULL,
                    company     text NOT NULL,
                    ssn         text NOT NULL,
                    residence   text NOT NULL,
                    created_at  timestamptz NOT NULL DEFAULT now(),
                    updated_at  timestamptz NOT NULL DEFAULT now(),
                    -- W3C trace context of the insert/update, so the source can continue the trace.
                    trace_parent text
                )
                """, () => $"Role {Quote(role)} may not create table {t} in schema {Quote(schema)}: " +
                    $"GRANT CREATE ON SCHEMA {Quote(schema)} TO {Quote(role)}, or create the table as its owner");
            logger.LogInformation("Created table {Table}", names.Table);
        }
        if (!hasIndex)
        {
            await Step($"CREATE INDEX IF NOT EXISTS {index} ON {t} (updated_at, id)",
                () => $"Role {Quote(role)} may not create index {index} on table {t} (only its owner may): " +
                    $"run `CREATE INDEX {index} ON {t} (updated_at, id)` as the owner, or make {Quote(role)} the owner");
            logger.LogInformation("Created index {Index}", names.Index);
        }
        if (!hasFunction)
        {
            await Step($"""
                CREATE FUNCTION {TouchFunction}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    NEW.updated_at := now();
                    RETURN NEW;
                END $$
                """, () => $"Role {Quote(role)} may not create function {TouchFunction}() in schema {Quote(schema)}: " +
                    $"GRANT CREATE ON SCHEMA {Quote(schema)} TO {Quote(role)}, or create it as the schema's owner");
            logger.LogInformation("Created function {Function}()", TouchFunction);
        }
        const short insertBit = 4; // TRIGGER_TYPE_INSERT in pg_trigger.tgtype
        if (triggerType is null || (triggerType & insertBit) == 0)
        {
            // CREATE OR REPLACE TRIGGER (PostgreSQL 14+) swaps an UPDATE-only trigger in place, in this transaction.
            await Step((triggerType is null ? "CREATE " : "CREATE OR REPLACE ") + createTrigger,
                () => $"Role {Quote(role)} may not create trigger {trigger} on table {t}: " +
                    $"GRANT TRIGGER ON TABLE {t} TO {Quote(role)}, or run `CREATE OR REPLACE {createTrigger.ReplaceLineEndings(" ")}` as the owner");
            if (triggerType is null) logger.LogInformation("Created trigger {Trigger} (updated_at on INSERT and UPDATE)", names.Trigger);
            else logger.LogInformation("Extended trigger {Trigger} to INSERT (it covered UPDATE only)", names.Trigger);
        }
        await tx.CommitAsync(ct);
    }

    private static string Quote(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
