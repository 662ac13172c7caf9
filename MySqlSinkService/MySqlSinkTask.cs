using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Sinks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using MySqlConnector;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>
/// Each topic's change events -> a MySQL table that mirrors its source table's columns (but the excluded ones), created
/// and evolved from the events' schemas (<see cref="SchemaEvolution"/>). Each batch is one MySQL transaction, durable
/// when <see cref="PutAsync"/> returns; the newest version of each key wins, and an older version never overwrites a
/// newer one, whoever writes it (a replay, a stalled instance): see <see cref="MirrorStatements"/>. A delete removes
/// the row in the same transaction as its batch. A schema MySQL cannot take stops the table: its partitions stop at
/// the first record not written, the error says what to do, /health reports it, and the service stays up; the other
/// tables go on.
/// </summary>
public sealed class MySqlSinkTask : ISinkTask
{
    public const string Stage = "mysql-write";

    private static readonly Counter<long> s_deletesWithoutTable = PipelineTelemetry.Meter.CreateCounter<long>(
        "kafkapipeline.mysql.deletes_without_table", "{record}", "Deletes for a MySQL table that does not exist yet (nothing to delete)");

    private readonly MySqlSinkOptions _options;
    private readonly string _connectionString;
    private readonly MySqlBatchWriter _writer;
    private readonly PipelineHealth _health;
    private readonly ILogger<MySqlSinkTask> _logger;
    // Per topic: what the sink knows of its MySQL table.
    private readonly Dictionary<string, TableState> _tables = new(StringComparer.Ordinal);
    // Partitions stopped with their table, at the first offset not written.
    private readonly ConcurrentDictionary<TopicPartition, long> _stoppedAt = new();
    private ISinkContext _context = null!;
    private long _deletesWithoutTable;

    public MySqlSinkTask(IOptions<MySqlSinkOptions> options, IConfiguration configuration, PipelineHealth health, ILogger<MySqlSinkTask> logger)
    {
        _options = options.Value;
        _connectionString = ConnectionNames.Require(configuration, ConnectionNames.MySql);
        _health = health;
        _logger = logger;
        _writer = new MySqlBatchWriter(_connectionString, _options.StatementRows, _options.BulkCopyThreshold, m => logger.LogWarning("{Warning}", m));
        Target = $"MySQL at {MirrorTableSetup.Describe(_connectionString)}";
        foreach (var topic in _options.Topics)
        {
            var mirror = new MirrorTable(_options.TableOf(topic.Table));
            var excluded = _options.ExcludedColumnsOf(topic.Table);
            _tables[topic.Topic] = new TableState(mirror, excluded, new SchemaEvolution(mirror, excluded, _options.OnColumnDropped));
            logger.LogInformation("MySQL sink: {Topic} -> table {Table} ({Mode}), every source column but {Excluded}; a dropped column is {Dropped}",
                topic.Topic, mirror.Name, _options.InsertMode, excluded.Count == 0 ? "none" : string.Join(", ", excluded),
                _options.OnColumnDropped == ColumnDropPolicy.Keep ? "kept" : "dropped");
        }
    }

    public string Target { get; }
    public string SpanName => "mysql write";

    /// <summary>Deletes that found no MySQL table to delete from (counted, not errors).</summary>
    public long DeletesWithoutTable => Interlocked.Read(ref _deletesWithoutTable);

    public async Task StartAsync(ISinkContext context, CancellationToken ct)
    {
        _context = context;
        foreach (var state in _tables.Values)
            await MirrorTableSetup.EnsureAsync(_connectionString, state.Table, m => _logger.LogInformation("{Message}", m), ct);
    }

    public Task<IReadOnlyDictionary<TopicPartition, long?>> OpenAsync(IReadOnlyDictionary<TopicPartition, long?> committed, CancellationToken ct) =>
        Task.FromResult<IReadOnlyDictionary<TopicPartition, long?>>(committed.ToDictionary(kv => kv.Key, _ => (long?)null));

    /// <summary>Each topic's records into its table, one table after the other.</summary>
    public async Task<IReadOnlyList<ErrantRecord>> PutAsync(IReadOnlyList<SinkRecord> records, CancellationToken ct)
    {
        var errant = new List<ErrantRecord>();
        foreach (var topic in records.Where(r => !_stoppedAt.ContainsKey(r.TopicPartition)).GroupBy(r => r.TopicPartition.Topic))
        {
            var state = State(topic.Key);
            try
            {
                errant.AddRange(await PutAsync(state, [.. topic], ct));
            }
            catch
            {
                state.Forget(); // the next attempt reads the table from MySQL again (another instance may have changed it)
                throw;
            }
        }
        return errant;
    }

    private async Task<IReadOnlyList<ErrantRecord>> PutAsync(TableState state, List<SinkRecord> records, CancellationToken ct)
    {
        var problems = await EvolveAsync(state, records, ct);

        // Within each partition (records come in offset order), nothing from the first record of a schema the table
        // cannot take on. Partitions that have not reached the change yet go on (their records are older than it).
        var writable = new List<SinkRecord>(records.Count);
        var stops = new Dictionary<TopicPartition, long>();
        string? problem = null;
        foreach (var r in records)
        {
            if (stops.ContainsKey(r.TopicPartition)) continue;
            if (r.Row is { } row && problems.TryGetValue(row.Schema, out var schemaProblem))
            {
                problem ??= schemaProblem;
                stops[r.TopicPartition] = r.Offset;
                continue;
            }
            writable.Add(r);
        }

        var errant = writable.Count > 0 ? await WriteAsync(state, writable, ct) : [];

        if (problem is not null)
        {
            StopTable(state, problem);
            foreach (var (tp, offset) in stops) _stoppedAt.AddOrUpdate(tp, offset, (_, at) => Math.Min(at, offset));
            _context.StopPartitions(stops);
        }
        return errant;
    }

    private void StopTable(TableState state, string problem)
    {
        if (state.StopReason is not null) return;
        state.StopReason = $"MySQL sink stopped writing table {state.Table.Name}: {problem}";
        _logger.LogError("{Problem}", state.StopReason);
        _health.Report($"mysql table {state.Table.Name}", HealthStatus.Unhealthy, state.StopReason);
    }

    /// <summary>
    /// Brings the table to what the batch's schemas need (creates, adds, widens, drops; DDL outside the batch's
    /// transaction, before it); returns the schemas whose records the table cannot take, with why.
    /// </summary>
    private async Task<Dictionary<TableSchema, string>> EvolveAsync(TableState state, List<SinkRecord> records, CancellationToken ct)
    {
        var schemas = new List<(TableSchema Schema, RecordVersion Newest)>();
        var index = new Dictionary<TableSchema, int>(ReferenceEqualityComparer.Instance);
        foreach (var r in records)
        {
            if (r.Row is not { } row) continue;
            var version = RecordVersion.Of(r);
            if (index.TryGetValue(row.Schema, out var i)) schemas[i] = (row.Schema, RecordVersion.Max(schemas[i].Newest, version));
            else
            {
                index[row.Schema] = schemas.Count;
                schemas.Add((row.Schema, version));
            }
        }
        OldestFirst(schemas);
        foreach (var (schema, newest) in schemas) state.Saw(schema, newest);

        // A connection only when MySQL must be read or changed: most batches find the table as it was.
        MySqlConnection? conn = null;
        try
        {
            for (var pass = 0; pass < 8; pass++)
            {
                if (!state.Loaded) await state.LoadAsync(conn ??= await OpenAsync(ct), ct);
                if (schemas.Count == 0) return [];
                var plan = state.Evolution.Plan(state.Layout, state.Decisions!, schemas);
                if (plan.Ddl.Count == 0) return plan.Problems;
                conn ??= await OpenAsync(ct);
                if (await ChangeAsync(conn, state, plan, schemas, ct) is { } refused) return refused;
            }
        }
        finally
        {
            if (conn is not null) await conn.DisposeAsync();
        }
        throw new InvalidOperationException($"the schema of MySQL table {state.Table.Name} did not settle after 8 rounds of changes");
    }

    private async Task<MySqlConnection> OpenAsync(CancellationToken ct)
    {
        var conn = new MySqlConnection(_connectionString);
        await conn.OpenAsync(ct);
        await using var session = new MySqlCommand(MySqlBatchWriter.SessionSql, conn);
        await session.ExecuteNonQueryAsync(ct);
        return conn;
    }

    /// <summary>Runs a plan's DDL; returns every schema as a problem when MySQL refuses a change for good.</summary>
    private async Task<Dictionary<TableSchema, string>?> ChangeAsync(MySqlConnection conn, TableState state, SchemaPlan plan,
        List<(TableSchema Schema, RecordVersion Newest)> schemas, CancellationToken ct)
    {
        try
        {
            foreach (var ddl in plan.Ddl) await RunAsync(conn, state, ddl, ct);
        }
        catch (MySqlException e) when (e.Number is 1060 or 1091) // another instance added or dropped it first
        {
            _logger.LogInformation("MySQL table {Table}: another writer changed it first ({Error}); reading it again", state.Table.Name, e.Message);
        }
        catch (MySqlException e) when (MySqlErrors.IsDdlRefusal(e))
        {
            var refused = $"MySQL refused a schema change the source's schema needs ({MySqlErrors.Describe(e, state.IsName)}). " +
                          "Change the MySQL table by hand to what the source has, or drop it to have it re-created, then restart the MySQL sink.";
            return schemas.ToDictionary(s => s.Schema, _ => refused, (IEqualityComparer<TableSchema>)ReferenceEqualityComparer.Instance);
        }
        finally
        {
            state.Forget();
        }
        return null;
    }

    private async Task RunAsync(MySqlConnection conn, TableState state, SchemaDdl ddl, CancellationToken ct)
    {
        foreach (var sql in ddl.Sql)
        {
            await using var cmd = new MySqlCommand(sql, conn) { CommandTimeout = 0 }; // a MODIFY rebuilds the table
            await cmd.ExecuteNonQueryAsync(ct);
        }
        if (ddl.Fill is { } fill)
        {
            await using var cmd = new MySqlCommand(fill.Sql, conn) { CommandTimeout = 0 };
            cmd.Parameters.AddWithValue("@value", fill.Value);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        foreach (var (column, decision) in ddl.Decisions) await SchemaChanges.WriteAsync(conn, state.Table.Name, column, decision, ct);
        _logger.LogInformation("MySQL table {Table}: {Change}", state.Table.Name, ddl.What);
    }

    // A handful of schemas: insertion sort by the one definition of newer.
    private static void OldestFirst(List<(TableSchema Schema, RecordVersion Newest)> schemas)
    {
        for (var i = 1; i < schemas.Count; i++)
        {
            for (var j = i; j > 0 && schemas[j - 1].Newest.IsNewerThan(schemas[j].Newest); j--) (schemas[j - 1], schemas[j]) = (schemas[j], schemas[j - 1]);
        }
    }

    private async Task<List<ErrantRecord>> WriteAsync(TableState state, List<SinkRecord> records, CancellationToken ct)
    {
        if (!state.Loaded)
        {
            await using var conn = new MySqlConnection(_connectionString);
            await conn.OpenAsync(ct);
            await state.LoadAsync(conn, ct);
        }
        foreach (var r in records) if (r.Row is { } row) state.LatestSchema = row.Schema;
        var errant = new List<ErrantRecord>();
        if (state.Layout is null)
        {
            // Only deletes (a table is created for the first row): nothing to delete yet.
            var deletes = records.Count(r => r.IsDelete);
            Interlocked.Add(ref _deletesWithoutTable, deletes);
            s_deletesWithoutTable.Add(deletes);
            return errant;
        }
        var sql = state.Statements(_options.InsertMode);
        var rows = new List<StagedRow>();
        var sources = new List<SinkRecord>();
        foreach (var r in Newest(records).Values)
        {
            try
            {
                rows.Add(StageRow(state, sql, r));
                sources.Add(r);
            }
            catch (InvalidRecordException e)
            {
                errant.Add(new ErrantRecord(r.Message, e, Stage));
            }
        }
        foreach (var (row, error) in await _writer.WriteAsync(sql, rows, ct))
            errant.Add(new ErrantRecord(sources[row].Message, new MySqlDataException(MySqlErrors.Describe(error, state.IsName), error.Number), Stage));
        return errant;
    }

    /// <summary>A record's staged values (<see cref="StagedRow"/>); a value MySQL's type cannot hold throws <see cref="InvalidRecordException"/>.</summary>
    private static StagedRow StageRow(TableState state, MirrorStatements sql, SinkRecord r)
    {
        var written = sql.Written;
        var values = new object?[sql.StagingColumns.Count - 1];
        values[0] = r.IsDelete ? "d" : "u";
        if (r.Row is { } row)
        {
            var fields = state.FieldsOf(row.Schema, sql);
            var version = RecordVersion.Of(r);
            StringBuilder? unchanged = null;
            for (var j = 0; j < written.Count; j++)
            {
                var i = fields[j];
                if (i < 0)
                {
                    // The schema lacks the column. A version from before the column was added (a lagging partition's)
                    // leaves it as stored, like an unchanged one, and a new row takes the source's default; any other
                    // version comes after a drop: NULL.
                    if (j >= sql.Key.Count && state.Predates(written[j].Name, version))
                    {
                        (unchanged is null ? unchanged = new StringBuilder() : unchanged.Append(',')).Append(j - sql.Key.Count);
                        values[1 + j] = state.SourceDefault(written[j].Name);
                    }
                    continue;
                }
                if (row.IsUnchanged(i))
                {
                    if (j >= sql.Key.Count) (unchanged is null ? unchanged = new StringBuilder() : unchanged.Append(',')).Append(j - sql.Key.Count);
                    continue;
                }
                if (row.Values[i] is { } value) values[1 + j] = MySqlColumnTypes.ToMySql(row.Schema.Fields[i], value);
            }
            values[1 + written.Count] = unchanged?.ToString();
        }
        else
        {
            var keyFields = state.KeyFields(sql);
            var key = ParseKey(keyFields, r.Key);
            for (var j = 0; j < keyFields.Count; j++) values[1 + j] = MySqlColumnTypes.ToMySql(keyFields[j], key[j]!);
        }
        RecordVersion.Of(r).Values.CopyTo(values, 2 + written.Count);
        return new StagedRow(values);
    }

    /// <summary>
    /// The key columns' values of a tombstone's key text (docs/events.md, "Key"): a single integer, text or UUID column
    /// is its plain text, any other key a JSON object of the key columns.
    /// </summary>
    public static object?[] ParseKey(IReadOnlyList<FieldSchema> fields, string key)
    {
        if (fields.Count == 1 && EventKeys.IsPlain(fields[0]))
            return ConnectValueJson.TryParseText(fields[0], key, out var single) && single is not null
                ? [single]
                : throw new InvalidRecordException($"the tombstone's key is not a {fields[0].ConnectType} (the table's key column '{fields[0].Name}')");
        var values = new object?[fields.Count];
        var seen = 0;
        try
        {
            var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(key));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) throw new JsonException();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                var i = fields.Count - 1;
                while (i >= 0 && fields[i].Name != name) i--;
                reader.Read();
                if (i < 0 || values[i] is not null) throw new JsonException();
                var field = fields[i] with { Optional = false };
                // A key column known only from MySQL's DATETIME: a timestamptz's key is its ISO text, a timestamp's a number.
                if (field.Kind == ValueKind.Timestamp && reader.TokenType == JsonTokenType.String) field = field with { Kind = ValueKind.TimestampTz };
                values[i] = ConnectValueJson.Read(ref reader, field);
                seen++;
            }
        }
        catch (Exception e) when (e is JsonException or InvalidRecordException)
        {
            seen = -1;
        }
        if (seen != fields.Count)
            throw new InvalidRecordException($"the tombstone's key is not a JSON object of the table's key columns ({string.Join(", ", fields.Select(f => f.Name))})");
        return values;
    }

    /// <summary>
    /// The newest record of each key (what applying them all in version order leaves; equal versions: the later one).
    /// A newest version that left large columns unchanged takes them from the version before it in the batch.
    /// </summary>
    public static Dictionary<string, SinkRecord> Newest(IEnumerable<SinkRecord> records)
    {
        var byKey = new Dictionary<string, SinkRecord>(StringComparer.Ordinal);
        foreach (var r in records)
        {
            if (byKey.TryGetValue(r.Key, out var kept) && RecordVersion.Of(kept).IsNewerThan(RecordVersion.Of(r))) continue;
            byKey[r.Key] = kept?.Row is { } older && r.Row is { HasUnchanged: true } row ? r with { Row = row.FillUnchangedFrom(older) } : r;
        }
        return byKey;
    }

    /// <summary>Everything put is committed in MySQL already, but in a stopped partition: there, the first record not written.</summary>
    public Task<IReadOnlyDictionary<TopicPartition, long>> PreCommitAsync(IReadOnlyDictionary<TopicPartition, long> putOffsets, bool force, CancellationToken ct) =>
        Task.FromResult<IReadOnlyDictionary<TopicPartition, long>>(_stoppedAt.IsEmpty ? putOffsets
            : putOffsets.ToDictionary(kv => kv.Key, kv => _stoppedAt.TryGetValue(kv.Key, out var at) ? Math.Min(at, kv.Value) : kv.Value));

    public void Close(IReadOnlyCollection<TopicPartition> partitions)
    {
        foreach (var tp in partitions) _stoppedAt.TryRemove(tp, out _);
    }

    public DateTimeOffset? NextFlushAt => null;

    public void Describe(Activity span, TopicPartition partition, long offset)
    {
        span.SetTag("db.system.name", "mysql");
        if (_tables.TryGetValue(partition.Topic, out var state)) span.SetTag("db.collection.name", state.Table.Name);
        span.SetTag("db.operation.name", "upsert");
    }

    private TableState State(string topic) =>
        _tables.TryGetValue(topic, out var state) ? state : throw new InvalidOperationException($"a record of topic {topic}, which the MySQL sink does not read");

    /// <summary>What the sink knows of one MySQL table: its layout and schema decisions (read again after each change), the statements for it, whether it stopped.</summary>
    private sealed class TableState(MirrorTable table, IReadOnlySet<string> excluded, SchemaEvolution evolution)
    {
        private MirrorStatements? _statements;
        private readonly Dictionary<TableSchema, int[]> _fields = new(ReferenceEqualityComparer.Instance);
        // Per column, the source's field from the newest schema seen that has it (its default); kept across Forget().
        private readonly Dictionary<string, (FieldSchema Field, RecordVersion Version)> _sourceFields = new(StringComparer.OrdinalIgnoreCase);

        public MirrorTable Table { get; } = table;
        public SchemaEvolution Evolution { get; } = evolution;
        public bool Loaded { get; private set; }

        /// <summary>Null when MySQL has no such table yet.</summary>
        public TableLayout? Layout { get; private set; }

        public Dictionary<string, ColumnDecision>? Decisions { get; private set; }

        /// <summary>The schema of the last row seen: a tombstone's key columns.</summary>
        public TableSchema? LatestSchema { get; set; }

        public string? StopReason { get; set; }

        public async Task LoadAsync(MySqlConnection conn, CancellationToken ct)
        {
            if (Loaded) return;
            Layout = await TableLayout.ReadAsync(conn, Table.Name, ct);
            Decisions = await SchemaChanges.ReadAsync(conn, Table.Name, ct);
            Loaded = true;
        }

        public void Forget()
        {
            Loaded = false;
            Layout = null;
            Decisions = null;
            _statements = null;
            _fields.Clear();
        }

        public MirrorStatements Statements(InsertMode mode) => _statements ??= new MirrorStatements(Table, Layout!, excluded, mode);

        /// <summary>Remembers the fields of a schema whose newest record has <paramref name="version"/>.</summary>
        public void Saw(TableSchema schema, RecordVersion version)
        {
            foreach (var field in schema.Fields)
            {
                if (!_sourceFields.TryGetValue(field.Name, out var known) || !known.Version.IsNewerThan(version)) _sourceFields[field.Name] = (field, version);
            }
        }

        /// <summary>
        /// A version whose schema lacks <paramref name="column"/> is older than the record the column was created,
        /// added or retyped for (kafkapipeline_schema_changes): it predates the column rather than follows a drop.
        /// Only by LSN, across partitions totally ordered: within an epoch by commit and change LSN, and a lower epoch
        /// is older than anything of a higher one (docs/events.md). A version without an LSN (the polling modes) is
        /// ordered only by time, which does not tell this apart: it keeps the drop's NULL.
        /// </summary>
        public bool Predates(string column, RecordVersion version) =>
            Decisions?.GetValueOrDefault(column) is { Present: true } decision
            && version.CommitLsn != 0 && decision.Version.CommitLsn != 0 && decision.Version.IsNewerThan(version);

        /// <summary>
        /// The MySQL value of the source's default of a column (what a row inserted before the column was added has
        /// in PostgreSQL), or null when unknown: the sink knows the default from a schema it has seen since it started.
        /// </summary>
        public object? SourceDefault(string column)
        {
            if (!_sourceFields.TryGetValue(column, out var known) || known.Field.Default is not { } value) return null;
            try
            {
                return MySqlColumnTypes.ToMySql(known.Field, value);
            }
            catch (InvalidRecordException)
            {
                return null; // a default MySQL cannot hold (NaN): as the rows that existed when it was added
            }
        }

        /// <summary>A column or key of the table (for error texts: a name MySQL quotes is the table's, not a value).</summary>
        public bool IsName(string name) => Layout?.Has(name) == true;

        /// <summary>Per written column, the index of the schema's field of that name (MySQL's names are case-insensitive), or -1.</summary>
        public int[] FieldsOf(TableSchema schema, MirrorStatements sql)
        {
            if (_fields.TryGetValue(schema, out var map)) return map;
            var byName = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < schema.Fields.Count; i++) byName.TryAdd(schema.Fields[i].Name, i);
            map = [.. sql.Written.Select(c => byName.GetValueOrDefault(c.Name, -1))];
            _fields[schema] = map;
            return map;
        }

        /// <summary>The key columns as fields: the latest schema's, else what MySQL's column types say (a tombstone before any row).</summary>
        public IReadOnlyList<FieldSchema> KeyFields(MirrorStatements sql) =>
        [
            .. sql.Key.Select(k => LatestSchema?.Fields.FirstOrDefault(f => f.IsKey && string.Equals(f.Name, k.Name, StringComparison.OrdinalIgnoreCase))
                                   ?? FromMySql(k)),
        ];

        private static FieldSchema FromMySql(MySqlColumn c)
        {
            var kind = c.Type?.Name switch
            {
                "tinyint" => ValueKind.Boolean,
                "smallint" => ValueKind.Int16,
                "mediumint" or "int" => ValueKind.Int32,
                "bigint" => ValueKind.Int64,
                "float" => ValueKind.Float32,
                "double" => ValueKind.Float64,
                "decimal" => ValueKind.Decimal,
                "date" => ValueKind.Date,
                "time" => ValueKind.Time,
                "datetime" => ValueKind.Timestamp,
                "binary" or "varbinary" or "tinyblob" or "blob" or "mediumblob" or "longblob" => ValueKind.Bytes,
                _ => ValueKind.String,
            };
            return new FieldSchema(c.Name, kind, Optional: false, IsKey: true, Length: c.Type?.Precision, Scale: c.Type?.Scale);
        }
    }
}
