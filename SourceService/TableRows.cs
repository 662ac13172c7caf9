using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Postgres;
using Npgsql;
using NpgsqlTypes;

namespace KafkaPipeline.SourceService;

/// <summary>
/// Reads a table's rows with binary COPY, every column as PostgreSQL sends it, into <see cref="DecodedRow"/>s of its
/// <see cref="CapturedTable"/>: the snapshot's and the polling modes' way to read, decoded exactly as the stream is.
/// </summary>
public sealed class TableRows(PgTypeCatalog types, string? traceParentColumn, Action<string, string, string> unrepresentable)
{
    /// <summary>The table as the connection sees it now (in a snapshot transaction: as of the snapshot).</summary>
    public async Task<CapturedTable> DescribeAsync(NpgsqlConnection conn, string schema, string table, string topic, CancellationToken ct)
    {
        var columns = await TableCatalog.ColumnsAsync(conn, schema, table, ct);
        if (columns.Count == 0) throw new InvalidOperationException($"table {schema}.{table} does not exist (or has no columns)");
        var details = await TableCatalog.DetailsAsync(conn, schema, table, ct);
        return CapturedTable.Build($"{schema}.{table}", topic, columns, await types.ResolveAsync(columns.Select(c => c.TypeOid), ct), details, traceParentColumn);
    }

    /// <summary>The SELECT list of every column of <paramref name="table"/>, in its order.</summary>
    public static string SelectList(CapturedTable table, IReadOnlyList<SourceColumn> columns) =>
        string.Join(", ", columns.Select(c => QuoteName(c.Name)));

    /// <summary>
    /// The rows of <paramref name="query"/>, whose first columns are <paramref name="table"/>'s in its order (more may
    /// follow: <paramref name="extra"/> reads them as raw bytes). Synchronous reads: the rows stream in without pause,
    /// and per-column async state machines cost more than the waits they would save.
    /// </summary>
    public IEnumerable<(DecodedRow Row, byte[]?[] Extra)> Read(NpgsqlConnection conn, CapturedTable table, string query, int extra, CancellationToken ct)
    {
        var builder = new RowBuilder(unrepresentable);
        using var copy = conn.BeginBinaryExport($"COPY ({query}) TO STDOUT (FORMAT BINARY)");
        while (copy.StartRow() != -1)
        {
            ct.ThrowIfCancellationRequested();
            builder.Begin(table);
            for (var i = 0; i < table.Columns.Count; i++)
            {
                var plan = table.Columns[i];
                if (copy.IsNull || (plan.Field < 0 && !plan.IsTraceParent)) copy.Skip();
                else builder.Set(i, copy.Read<byte[]>(NpgsqlDbType.Bytea)); // any type's binary form, as bytes
            }
            var more = new byte[]?[extra];
            for (var i = 0; i < extra; i++)
            {
                if (copy.IsNull) copy.Skip();
                else more[i] = copy.Read<byte[]>(NpgsqlDbType.Bytea);
            }
            yield return (builder.Build(), more);
        }
    }

    /// <summary>
    /// The rows of a parameterised query (polling), read like <see cref="Read"/>: the first columns are the table's, the
    /// <paramref name="extra"/> after them come back as raw bytes.
    /// </summary>
    public async Task<List<(DecodedRow Row, byte[]?[] Extra)>> QueryAsync(NpgsqlCommand cmd, CapturedTable table, int extra, CancellationToken ct)
    {
        var builder = new RowBuilder(unrepresentable);
        var rows = new List<(DecodedRow, byte[]?[])>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var buffer = new MemoryStream();
        byte[] Raw(int ordinal)
        {
            buffer.SetLength(0);
            using (var stream = reader.GetStream(ordinal)) stream.CopyTo(buffer); // any type's binary form
            return buffer.ToArray();
        }
        while (await reader.ReadAsync(ct))
        {
            builder.Begin(table);
            for (var i = 0; i < table.Columns.Count; i++)
            {
                var plan = table.Columns[i];
                if (!reader.IsDBNull(i) && (plan.Field >= 0 || plan.IsTraceParent)) builder.Set(i, Raw(i));
            }
            var more = new byte[]?[extra];
            for (var i = 0; i < extra; i++) more[i] = reader.IsDBNull(table.Columns.Count + i) ? null : Raw(table.Columns.Count + i);
            rows.Add((builder.Build(), more));
        }
        return rows;
    }

    /// <summary>A PostgreSQL identifier from the catalog, quoted (any characters; quotes doubled).</summary>
    public static string QuoteName(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
