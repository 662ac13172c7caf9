using Npgsql;

namespace KafkaPipeline.Shared;

/// <summary>
/// The PostgreSQL <c>users</c> table: identity id that never restarts (unlike the tutorial's pandas index),
/// UTC timestamps, and updated_at kept current by a trigger so any writer's updates are captured.
/// </summary>
public static class UsersSchema
{
    /// <summary>Creates the table, its index and trigger if missing. Safe when several services start together.</summary>
    public static async Task EnsureAsync(NpgsqlDataSource db, string table, CancellationToken ct)
    {
        var t = SqlIdentifier.QuotePostgres(table);
        var index = SqlIdentifier.QuotePostgres(table + "_updated_at_id");
        var trigger = SqlIdentifier.QuotePostgres(table + "_touch_updated_at");
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        // IF NOT EXISTS alone races on the catalog; an advisory lock serialises concurrent creators.
        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext('kafkapipeline.schema.' || @t))", conn, tx))
        {
            lockCmd.Parameters.AddWithValue("t", table);
            await lockCmd.ExecuteNonQueryAsync(ct);
        }
        var ddl = $"""
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
            );
            CREATE INDEX IF NOT EXISTS {index} ON {t} (updated_at, id);
            CREATE OR REPLACE FUNCTION kafkapipeline_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                NEW.updated_at := now();
                RETURN NEW;
            END $$;
            DROP TRIGGER IF EXISTS {trigger} ON {t};
            CREATE TRIGGER {trigger} BEFORE UPDATE ON {t}
                FOR EACH ROW EXECUTE FUNCTION kafkapipeline_touch_updated_at();
            """;
        await using (var cmd = new NpgsqlCommand(ddl, conn, tx))
        {
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }

    /// <summary>The columns in the order the source selects them and the sinks write them.</summary>
    public static readonly string[] Columns =
        ["id", "name", "username", "sex", "address", "mail", "birthdate", "job", "company", "ssn", "residence", "created_at", "updated_at"];
}
