using KafkaPipeline.Shared;
using Npgsql;

namespace KafkaPipeline.SourceService;

/// <summary>
/// The source's durable position, kept in a table of the source database and written only after Kafka acknowledged
/// every message up to it.
/// </summary>
public sealed class OffsetStore(NpgsqlDataSource db, SourceOptions options)
{
    private readonly string _table = SqlIdentifier.QuotePostgres(options.OffsetsTable);

    public async Task EnsureAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext('kafkapipeline.schema.' || @t))", conn, tx))
        {
            lockCmd.Parameters.AddWithValue("t", options.OffsetsTable);
            await lockCmd.ExecuteNonQueryAsync(ct);
        }
        try
        {
            await using var cmd = new NpgsqlCommand($"""
                CREATE TABLE IF NOT EXISTS {_table} (
                    source      text PRIMARY KEY,
                    position_ts timestamptz NOT NULL,
                    position_id bigint NOT NULL,
                    saved_at    timestamptz NOT NULL DEFAULT now()
                )
                """, conn, tx);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new NotRetriableException(
                $"The source may not create its position table {_table} (Source:OffsetsTable; PostgreSQL: {e.MessageText}): " +
                "GRANT CREATE ON SCHEMA to its role, or create the table beforehand as its owner.", e);
        }
        await tx.CommitAsync(ct);
    }

    /// <summary>The key of this source's row: topic and mode, so switching mode starts a position of its own.</summary>
    private string Key => $"{options.Topic}/{options.Table}/{options.Mode}";

    public async Task<SourcePosition?> LoadAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"SELECT position_ts, position_id FROM {_table} WHERE source = @s");
        cmd.Parameters.AddWithValue("s", Key);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct)
            ? new SourcePosition(reader.GetFieldValue<DateTime>(0), reader.GetInt64(1))
            : null;
    }

    public async Task SaveAsync(SourcePosition position, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"""
            INSERT INTO {_table} (source, position_ts, position_id) VALUES (@s, @ts, @id)
            ON CONFLICT (source) DO UPDATE SET position_ts = EXCLUDED.position_ts, position_id = EXCLUDED.position_id, saved_at = now()
            """);
        cmd.Parameters.AddWithValue("s", Key);
        cmd.Parameters.AddWithValue("ts", position.UpdatedAt);
        cmd.Parameters.AddWithValue("id", position.Id);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
