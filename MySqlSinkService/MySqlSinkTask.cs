using System.Diagnostics;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Sinks;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>
/// P_USERS -> the e-mail database. Each batch is one MySQL transaction, durable when <see cref="PutAsync"/> returns;
/// the newest version of each id wins, and an older version never overwrites a newer one, whoever writes it (a replay,
/// a stalled instance): see <see cref="UsersTable"/>. A delete removes the row in the same transaction as its batch.
/// </summary>
public sealed class MySqlSinkTask : ISinkTask
{
    private readonly UsersTable _table;
    private readonly MySqlUserWriter _writer;
    private readonly string _connectionString;

    public MySqlSinkTask(IOptions<MySqlSinkOptions> options, IConfiguration configuration, ILogger<MySqlSinkTask> logger)
    {
        var o = options.Value;
        _connectionString = ConnectionNames.Require(configuration, ConnectionNames.MySql);
        _table = new UsersTable(o.Table, o.InsertMode, o.ColumnList);
        _writer = new MySqlUserWriter(_connectionString, _table, o.StatementRows, o.BulkCopyThreshold, m => logger.LogWarning("{Warning}", m));
        Target = $"MySQL at {UsersTableSetup.Describe(_connectionString)}";
        logger.LogInformation("MySQL sink: table {Table} ({Mode}), columns {Columns}", _table.Name, o.InsertMode, string.Join(", ", _table.WrittenColumns));
    }

    public string Target { get; }
    public string SpanName => "mysql write";

    public Task StartAsync(ISinkContext context, CancellationToken ct) => UsersTableSetup.EnsureAsync(_connectionString, _table, ct);

    public Task<IReadOnlyDictionary<TopicPartition, long?>> OpenAsync(IReadOnlyDictionary<TopicPartition, long?> committed, CancellationToken ct) =>
        Task.FromResult<IReadOnlyDictionary<TopicPartition, long?>>(committed.ToDictionary(kv => kv.Key, _ => (long?)null));

    public async Task<IReadOnlyList<ErrantRecord>> PutAsync(IReadOnlyList<SinkRecord> records, CancellationToken ct)
    {
        var newest = Newest(records);
        var refused = await _writer.WriteAsync([.. newest.Values.Select(r =>
            new StagedRecord(IdOf(r), r.Row is null ? null : UsersEvents.ToUser(r.Row), r.Source.Version, r.VersionTime))], ct);
        return [.. refused.Select(f => new ErrantRecord(newest[f.Id].Message, f.Error, "mysql-write"))];
    }

    /// <summary>
    /// The newest record of each id (what applying them all in version order leaves); equal versions: the later one.
    /// Sorted by id, the primary key, so the statements walk the index in order.
    /// </summary>
    public static SortedDictionary<long, SinkRecord> Newest(IEnumerable<SinkRecord> records)
    {
        var byId = new SortedDictionary<long, SinkRecord>();
        foreach (var r in records)
        {
            if (!byId.TryGetValue(IdOf(r), out var kept) || !kept.IsNewerThan(r)) byId[IdOf(r)] = r;
        }
        return byId;
    }

    private static long IdOf(SinkRecord r) => long.Parse(r.Key, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Everything put is committed in MySQL already.</summary>
    public Task<IReadOnlyDictionary<TopicPartition, long>> PreCommitAsync(IReadOnlyDictionary<TopicPartition, long> putOffsets, bool force, CancellationToken ct) =>
        Task.FromResult(putOffsets);

    public void Close(IReadOnlyCollection<TopicPartition> partitions) { }

    public DateTimeOffset? NextFlushAt => null;

    public void Describe(Activity span, TopicPartition partition, long offset)
    {
        span.SetTag("db.system.name", "mysql");
        span.SetTag("db.collection.name", _table.Name);
        span.SetTag("db.operation.name", "upsert");
    }
}
