using System.Collections.Concurrent;
using System.Text;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using Npgsql;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// Snapshots of tables whose capture began after the slot's (added to Pipeline:Tables later, or created later), while
/// streaming goes on: the watermark method of DBLog and Debezium. Chunk by chunk, in key order:
/// <list type="number">
/// <item>a LOW watermark goes into the log; the source waits until every transaction running then has ended (so the
/// next read sees everything committed before the watermark);</item>
/// <item>the chunk is read;</item>
/// <item>a HIGH watermark goes into the log.</item>
/// </list>
/// Between the two watermarks the stream notes every key of the table it publishes. When the stream reaches HIGH, the
/// chunk's rows go out (op r, at HIGH's position) except those whose key changed in the window: the streamed event is
/// as new or newer. So no row is missed and none is overtaken by an older version. Progress is recorded once Kafka
/// has a chunk (with the confirmed position); after a restart the table goes on from its last recorded key, at worst
/// sending one chunk again. Not thread-safe except where noted: the stream calls <see cref="OnChange"/> and
/// <see cref="OnWatermark"/>, the session runs <see cref="RunAsync"/>.
/// </summary>
public sealed class IncrementalSnapshots(
    NpgsqlDataSource db, SourceLeadership leader, TableRows rows, ChangePublisher publisher, FlushTracker tracker, SourceOptions options, ILogger logger)
    : IDisposable
{
    public const string Prefix = "kafkapipeline.watermark.";
    private readonly string _session = Guid.NewGuid().ToString("N")[..12];
    private readonly ConcurrentQueue<CapturedTableInfo> _queue = new();
    private readonly SemaphoreSlim _queued = new(0);
    private readonly Lock _lock = new();
    private Chunk? _chunk;
    private long _chunks;
    // Chunks in Kafka whose progress is recorded once the log is confirmed past their HIGH watermark.
    private readonly List<(ulong High, TableState State)> _unrecorded = [];

    private sealed class Chunk(string id, CapturedTableInfo table)
    {
        public string Id { get; } = id;
        public CapturedTableInfo Table { get; } = table;
        public bool WindowOpen;
        public readonly HashSet<string> Changed = new(StringComparer.Ordinal);
        public List<DecodedRow>? Rows;
        public readonly TaskCompletionSource<ulong> Published = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Tables waiting for their snapshot (and the one in progress), for the summary and /health.</summary>
    public int Pending => _queue.Count + (_chunk is null ? 0 : 1);

    public void Dispose() => _queued.Dispose();

    public void Enqueue(CapturedTableInfo table)
    {
        _queue.Enqueue(table);
        _queued.Release();
    }

    /// <summary>The stream published an event of <paramref name="table"/> with this key.</summary>
    public void OnChange(string table, byte[] key)
    {
        lock (_lock)
        {
            if (_chunk is { WindowOpen: true } c && c.Table.QualifiedName == table) c.Changed.Add(Encoding.UTF8.GetString(key));
        }
    }

    /// <summary>A watermark reached the stream (any session's: only this session's current chunk's count).</summary>
    public void OnWatermark(string prefix, string content, ulong lsn, DateTime now)
    {
        if (prefix != Prefix + options.SlotName) return;
        var parts = content.Split(' ');
        if (parts.Length != 2) return;
        Chunk? done = null;
        lock (_lock)
        {
            if (_chunk is not { } c || c.Id != parts[1]) return;
            if (parts[0] == "low") c.WindowOpen = true;
            else if (parts[0] == "high" && c.Rows is not null)
            {
                c.WindowOpen = false;
                done = c;
            }
        }
        if (done is not null) Publish(done, lsn, now);
    }

    private void Publish(Chunk chunk, ulong high, DateTime now)
    {
        var tx = tracker.Begin();
        var version = new SourceVersion(high, 0); // a snapshot row: newer than every change before HIGH, older than any after
        long index = 0, skipped = 0;
        using var writer = new ChangeEventWriter();
        foreach (var row in chunk.Rows!)
        {
            var key = EventKeys.Key(row.Table.Schema, row.Values)!;
            if (chunk.Changed.Contains(Encoding.UTF8.GetString(key)))
            {
                skipped++;
                continue;
            }
            publisher.Publish(new ChangeEvent(chunk.Table.Topic, key, ChangeOp.Read, writer.Value(row.Table.Schema, row.Values), row.TraceParent,
                version, index++, now, row.Table.Table), tx);
        }
        tracker.Close(tx, high);
        logger.LogInformation("Incremental snapshot of {Table}: chunk of {Rows} rows at {High} ({Skipped} changed meanwhile: the stream has them)",
            chunk.Table.QualifiedName, index, SourceVersion.FormatLsn(high), skipped);
        chunk.Published.TrySetResult(high);
    }

    /// <summary>Runs the queued snapshots, chunk after chunk, until the session ends.</summary>
    public async Task RunAsync(IReadOnlyDictionary<string, TableState> states, CancellationToken ct)
    {
        while (true)
        {
            await _queued.WaitAsync(ct);
            if (!_queue.TryDequeue(out var table)) continue;
            var state = states.GetValueOrDefault(table.QualifiedName) ?? new TableState(table.QualifiedName, true, false, null);
            logger.LogInformation("Incremental snapshot of {Table} to {Topic}: {Where}", table.QualifiedName, table.Topic,
                state.LastKey is null ? "from its first row" : "going on after the last row Kafka has");
            var described = await DescribeAsync(table, ct);
            var keyColumns = described.Table.Schema.KeyIndexes.Select(i => described.Table.Schema.Fields[i].Name).ToList();
            var lastKey = state.LastKey;
            while (true)
            {
                var chunk = new Chunk($"{_session}-{Interlocked.Increment(ref _chunks)}", table);
                lock (_lock) _chunk = chunk;
                await EmitAsync($"low {chunk.Id}", ct);
                await WaitForRunningTransactionsAsync(ct);
                var (chunkRows, next) = await ReadChunkAsync(described, keyColumns, lastKey, ct);
                lock (_lock) chunk.Rows = chunkRows;
                await EmitAsync($"high {chunk.Id}", ct);
                var high = await chunk.Published.Task.WaitAsync(ct);
                var finished = chunkRows.Count < options.SnapshotChunkSize;
                lastKey = next ?? lastKey;
                lock (_lock)
                {
                    _unrecorded.Add((high, state with { SnapshotDone = finished, LastKey = finished ? null : lastKey }));
                    _chunk = null;
                }
                if (finished) break;
            }
            logger.LogInformation("Incremental snapshot of {Table}: every row is read; done once Kafka confirms the last chunk", table.QualifiedName);
        }
    }

    /// <summary>Records the progress of every chunk Kafka has completely (called before the position is told to PostgreSQL).</summary>
    public async Task RecordAsync(TableStates states, ulong confirmed, CancellationToken ct)
    {
        List<TableState> due;
        lock (_lock)
        {
            due = [.. _unrecorded.Where(u => u.High <= confirmed).Select(u => u.State)];
            _unrecorded.RemoveAll(u => u.High <= confirmed);
        }
        foreach (var state in due) await states.SaveAsync(leader, state, ct);
    }

    private Task EmitAsync(string content, CancellationToken ct) => leader.RunAsync(async conn =>
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_logical_emit_message(false, @prefix, @content)", conn);
        cmd.Parameters.AddWithValue("prefix", Prefix + options.SlotName);
        cmd.Parameters.AddWithValue("content", content);
        await cmd.ExecuteNonQueryAsync(ct);
    }, ct);

    /// <summary>
    /// Waits for every transaction running now to end. One that committed just before the LOW watermark may still be
    /// invisible to a new snapshot for a moment (its commit is in the log, not yet in the process array); the chunk read
    /// after this sees it, so its change is either in the chunk or after the window.
    /// </summary>
    private async Task WaitForRunningTransactionsAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        ulong[] running;
        await using (var snap = new NpgsqlCommand("SELECT coalesce(array_agg(x::text::bigint), '{}') FROM pg_snapshot_xip(pg_current_snapshot()) x", conn))
        {
            running = [.. ((long[])(await snap.ExecuteScalarAsync(ct))!).Select(x => (ulong)x)];
        }
        if (running.Length == 0) return;
        await using var check = new NpgsqlCommand(
            "SELECT count(*) FROM unnest(@xids) x WHERE pg_xact_status(x::text::xid8) = 'in progress'", conn);
        check.Parameters.AddWithValue("xids", running.Select(x => (long)x).ToArray());
        while ((long)(await check.ExecuteScalarAsync(ct))! > 0) await Task.Delay(20, ct);
    }

    private sealed record Described(CapturedTable Table, string Select, string[] KeyTypes);

    private async Task<Described> DescribeAsync(CapturedTableInfo info, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var table = await rows.DescribeAsync(conn, info.Schema!, info.Listed.Name, info.Topic, ct);
        var columns = await TableCatalog.ColumnsAsync(conn, info.Schema!, info.Listed.Name, ct);
        var keys = table.Schema.KeyIndexes.Select(i => table.Schema.Fields[i].Name).ToList();
        var types = new string[keys.Count];
        for (var k = 0; k < keys.Count; k++)
        {
            await using var type = new NpgsqlCommand(
                "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = to_regclass(@t) AND a.attname = @c", conn);
            type.Parameters.AddWithValue("t", $"{TableRows.QuoteName(info.Schema!)}.{TableRows.QuoteName(info.Listed.Name)}");
            type.Parameters.AddWithValue("c", keys[k]);
            types[k] = (string)(await type.ExecuteScalarAsync(ct))!;
        }
        return new Described(table, $"SELECT {TableRows.SelectList(table, columns)}, " +
            $"{string.Join(", ", keys.Select((k, i) => $"{TableRows.QuoteName(k)}::text AS kafkapipeline_key_{i}"))} " +
            $"FROM {TableRows.QuoteName(info.Schema!)}.{TableRows.QuoteName(info.Listed.Name)} t", types);
    }

    /// <summary>The next chunk after <paramref name="after"/> (key columns' text) in key order, and the last row's key text.</summary>
    private async Task<(List<DecodedRow> Rows, string[]? Last)> ReadChunkAsync(Described d, List<string> keys, string[]? after, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var cmd = conn.CreateCommand();
        var keyList = string.Join(", ", keys.Select(k => "t." + TableRows.QuoteName(k)));
        // Catalog-given type names (format_type) cast the key's text back: the comparison uses the columns' own order.
        var where = after is null ? "" : $" WHERE ({keyList}) > ({string.Join(", ", keys.Select((_, i) => $"@k{i}::{d.KeyTypes[i]}"))})";
        for (var i = 0; after is not null && i < keys.Count; i++) cmd.Parameters.AddWithValue($"k{i}", after[i]);
        cmd.Parameters.AddWithValue("limit", options.SnapshotChunkSize);
        cmd.CommandText = $"{d.Select}{where} ORDER BY {keyList} LIMIT @limit";
        var result = await rows.QueryAsync(cmd, d.Table, keys.Count, ct);
        var last = result.Count == 0 ? null : result[^1].Extra.Select(b => b is null ? "" : Encoding.UTF8.GetString(b)).ToArray();
        return ([.. result.Select(r => r.Row)], last);
    }
}
