using System.Buffers;
using KafkaPipeline.Shared.Postgres;
using Npgsql;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// The captured tables as the slot's relation messages describe them (one <see cref="CapturedTable"/> per relation and
/// version: a relation message precedes the first change of a table in each session and follows every schema change),
/// and pgoutput tuples read into rows of them. Large values an update did not change are never read from the table as
/// it is now: with REPLICA IDENTITY FULL they come from the old row, otherwise the event marks them unchanged.
/// </summary>
public sealed class RowDecoder(NpgsqlDataSource db, PgTypeCatalog types, CaptureSet capture, SourceOptions options, ILogger logger)
{
    private readonly Dictionary<uint, CapturedTable> _tables = [];
    private readonly Dictionary<uint, string> _ignored = [];
    private readonly RowBuilder _builder = new((table, column, what) =>
    {
        CdcTelemetry.Unrepresentable.Add(1);
        logger.LogWarning("{Table}.{Column}: a value ({What}) has no representation in the event's field type; sent as null", table, column, what);
    });

    /// <summary>Columns of the captured tables that the events leave out (their type is not carried), per table.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Unsupported =>
        _tables.Values.Where(t => t.Unsupported.Count > 0).GroupBy(t => t.Table).ToDictionary(g => g.Key, g => g.Last().Unsupported);

    /// <summary>Relations the slot streams that are not captured (added to the publication by hand, a partition child).</summary>
    public IReadOnlyCollection<string> Ignored => _ignored.Values;

    /// <summary>Changes of relations that are not captured, skipped.</summary>
    public long IgnoredChanges { get; private set; }

    /// <summary>The table a relation is captured as, or null when it is not a table the source captures (counted).</summary>
    public CapturedTable? TableOf(RelationMessage relation)
    {
        if (_tables.TryGetValue(relation.RelationId, out var table)) return table;
        IgnoredChanges++;
        CdcTelemetry.IgnoredChanges.Add(1);
        return null;
    }

    public async Task OnRelationAsync(RelationMessage relation, CancellationToken ct)
    {
        var name = $"{relation.Namespace}.{relation.RelationName}";
        var captured = capture.Find(relation.Namespace, relation.RelationName);
        if (captured is null || captured.KeyProblem is not null)
        {
            if (_ignored.TryAdd(relation.RelationId, name))
                logger.LogWarning("The slot streams changes of {Table}, which is not in Pipeline:Tables (added to the publication by hand, or a partition): " +
                    "they are not published", name);
            _tables.Remove(relation.RelationId);
            return;
        }
        var columns = relation.Columns.Select(c => new SourceColumn(c.ColumnName, c.DataTypeId, c.TypeModifier)).ToList();
        var resolved = await types.ResolveAsync(columns.Select(c => c.TypeOid), ct);
        TableDetails details;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            details = await TableCatalog.DetailsAsync(conn, relation.Namespace, relation.RelationName, ct);
        }
        var table = CapturedTable.Build(name, captured.Topic, columns, resolved, details, options.TraceParentColumn);
        var previous = _tables.GetValueOrDefault(relation.RelationId);
        if (previous is not null && previous.Schema.Json.AsSpan().SequenceEqual(table.Schema.Json)) return; // same version: keep its identity
        _tables[relation.RelationId] = table;
        if (previous is not null)
            logger.LogInformation("Schema of {Table} changed: columns now {Columns}", name, string.Join(", ", table.Schema.Fields.Select(f => $"{f.Name} {f.SourceType}")));
        if (table.Unsupported.Count > 0)
            logger.LogWarning("{Table}: columns {Columns} have types the pipeline does not carry; the events leave them out", name, string.Join(", ", table.Unsupported));
        if (table.Schema.KeyIndexes.Count == 0)
            logger.LogWarning("{Table} has neither a primary key nor a replica identity index: its events have no key", name);
    }

    /// <summary>Reads a whole row (an insert, the new row of an update, the old row under REPLICA IDENTITY FULL).</summary>
    public async Task<DecodedRow> ReadRowAsync(CapturedTable table, ReplicationTuple tuple, CancellationToken ct, DecodedRow? old = null)
    {
        _builder.Begin(table);
        var i = 0;
        byte[]? buffer = null;
        try
        {
            await foreach (var value in tuple.WithCancellation(ct))
            {
                var column = i++;
                if (value.IsDBNull) continue;
                if (value.IsUnchangedToastedValue)
                {
                    _builder.SetUnchanged(column);
                    continue;
                }
                var plan = table.Columns[column];
                if (plan.Field < 0 && !plan.IsTraceParent) continue; // not carried: Npgsql skips the unread value
                var length = value.Length;
                if (buffer is null || buffer.Length < length)
                {
                    if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 256));
                }
                await using (var stream = value.GetStream()) await stream.ReadExactlyAsync(buffer.AsMemory(0, length), ct);
                _builder.Set(column, buffer.AsSpan(0, length));
            }
        }
        finally
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
        }
        if (old is not null) _builder.FillUnchangedFrom(old);
        return _builder.Build();
    }
}
