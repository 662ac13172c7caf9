using KafkaPipeline.Shared;
using Npgsql;

namespace KafkaPipeline.SourceService;

/// <summary>A row read from PostgreSQL with the W3C trace context its writer stored.</summary>
public sealed record SourceRow(UserRecord User, string? TraceParent);

/// <summary>Reads the next rows after a position, in the source's order, holding back rows younger than the delay.</summary>
public sealed class UsersReader(NpgsqlDataSource db, SourceOptions options)
{
    private readonly string _columns = string.Join(", ", UsersSchema.Columns) + ", trace_parent";
    private readonly string _table = SqlIdentifier.QuotePostgres(options.Table);

    /// <summary>The position a row has in the configured mode (incrementing: id only).</summary>
    public SourcePosition PositionOf(UserRecord user) =>
        options.Mode == SourceMode.Incrementing ? new SourcePosition(DateTime.UnixEpoch, user.Id) : user.Position;

    public async Task<IReadOnlyList<SourceRow>> ReadAfterAsync(SourcePosition after, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand();
        cmd.Parameters.AddWithValue("id", after.Id);
        cmd.Parameters.AddWithValue("limit", options.BatchSize);
        cmd.Parameters.AddWithValue("delay", options.Delay);
        if (options.Mode == SourceMode.TimestampIncrementing)
        {
            // The bound is monotonic in the sort order, so filtering in SQL skips nothing.
            cmd.CommandText = $"""
                SELECT {_columns}, now() - @delay AS bound FROM {_table}
                WHERE (updated_at, id) > (@ts, @id) AND updated_at < now() - @delay
                ORDER BY updated_at, id LIMIT @limit
                """;
            cmd.Parameters.AddWithValue("ts", after.UpdatedAt);
        }
        else
        {
            // created_at is not monotonic in id order: read in id order and stop at the first row that is too young
            // (below), never filter it out in SQL (that would step over it for good).
            cmd.CommandText = $"""
                SELECT {_columns}, now() - @delay AS bound FROM {_table}
                WHERE id > @id ORDER BY id LIMIT @limit
                """;
        }

        var rows = new List<SourceRow>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var user = new UserRecord
            {
                Id = reader.GetInt64(0),
                Name = reader.GetString(1),
                Username = reader.GetString(2),
                Sex = reader.GetString(3),
                Address = reader.GetString(4),
                Mail = reader.GetString(5),
                Birthdate = reader.GetFieldValue<DateOnly>(6),
                Job = reader.GetString(7),
                Company = reader.GetString(8),
                Ssn = reader.GetString(9),
                Residence = reader.GetString(10),
                CreatedAt = reader.GetFieldValue<DateTime>(11),
                UpdatedAt = reader.GetFieldValue<DateTime>(12),
            };
            var traceParent = reader.IsDBNull(13) ? null : reader.GetString(13);
            var bound = reader.GetFieldValue<DateTime>(14);
            if (options.Mode == SourceMode.Incrementing && user.CreatedAt >= bound) break;
            rows.Add(new SourceRow(user, traceParent));
        }
        return rows;
    }
}
