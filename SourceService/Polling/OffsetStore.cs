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

    public Task EnsureAsync(CancellationToken ct) =>
        SourceTable.EnsureAsync(db, options.OffsetsTable,
            "source text PRIMARY KEY, position_ts timestamptz NOT NULL, position_id bigint NOT NULL, saved_at timestamptz NOT NULL DEFAULT now()",
            (table, reason) => $"The source may not create its position table {table} (Source:OffsetsTable; PostgreSQL: {reason}): " +
                               "GRANT CREATE ON SCHEMA to its role, or create the table beforehand as its owner.", ct);

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
