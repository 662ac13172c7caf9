using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using Npgsql;

namespace KafkaPipeline.SourceService;

/// <summary>A row read by a poll, with its position in the source's order.</summary>
public sealed record SourceRow(DecodedRow Row, SourcePosition Position);

/// <summary>
/// The polling modes' reader: the next rows after a position, in the source's order, holding back rows younger than the
/// delay. Every column of the table (as the catalog lists it at each poll, so a column added later is carried) is read
/// and decoded like the change stream's; the order needs the users table's id and updated_at.
/// </summary>
public sealed class UsersReader(NpgsqlDataSource db, TableRows tableRows, SourceOptions options)
{
    public async Task<IReadOnlyList<SourceRow>> ReadAfterAsync(SourcePosition after, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var (schema, name) = await TableCatalog.ResolveAsync(conn, options.Table, ct)
            ?? throw new InvalidOperationException($"table {options.Table} does not exist");
        var table = await tableRows.DescribeAsync(conn, schema, name, options.Topic, ct);
        var columns = TableRows.SelectList(table, await TableCatalog.ColumnsAsync(conn, schema, name, ct));
        var from = $"{TableRows.QuoteName(schema)}.{TableRows.QuoteName(name)}";
        await using var cmd = conn.CreateCommand();
        cmd.Parameters.AddWithValue("id", after.Id);
        cmd.Parameters.AddWithValue("limit", options.BatchSize);
        cmd.Parameters.AddWithValue("delay", options.Delay);
        if (options.Mode == SourceMode.TimestampIncrementing)
        {
            // The bound is monotonic in the sort order, so filtering in SQL skips nothing.
            cmd.CommandText = $"""
                SELECT {columns}, now() - @delay AS bound FROM {from}
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
                SELECT {columns}, now() - @delay AS bound FROM {from}
                WHERE id > @id ORDER BY id LIMIT @limit
                """;
        }

        var rows = new List<SourceRow>();
        foreach (var (row, extra) in await tableRows.QueryAsync(cmd, table, 1, ct))
        {
            var bound = Micros(extra[0]);
            if (options.Mode == SourceMode.Incrementing && Micros(row, "created_at") >= bound) break;
            rows.Add(new SourceRow(row, PositionOf(row.Table.Schema, row.Values)));
        }
        return rows;
    }

    /// <summary>The position a row has in the configured mode (incrementing: id only).</summary>
    public SourcePosition PositionOf(TableSchema schema, object?[] values)
    {
        var id = values[schema.IndexOf("id")] is long l ? l : 0;
        if (options.Mode == SourceMode.Incrementing) return new SourcePosition(DateTime.UnixEpoch, id);
        var updated = schema.IndexOf("updated_at") is var i and >= 0 && values[i] is long micros
            ? DateTime.SpecifyKind(ConnectValueJson.ToDateTime(micros), DateTimeKind.Utc)
            : DateTime.UnixEpoch;
        return new SourcePosition(updated, id);
    }

    private static long Micros(DecodedRow row, string column) =>
        row.Table.Schema.IndexOf(column) is var i and >= 0 && row.Values[i] is long micros ? micros : long.MinValue;

    // now() - delay as timestamptz, binary: microseconds since 2000-01-01.
    private static long Micros(byte[]? pgTimestamp) =>
        pgTimestamp is null ? long.MaxValue
            : System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(pgTimestamp) + (946_684_800L * 1_000_000);
}
