using System.Diagnostics;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Postgres;
using Microsoft.Extensions.Options;
using Npgsql;

namespace KafkaPipeline.SourceService;

/// <summary>
/// The polling modes (Source:Mode Incrementing or TimestampIncrementing; the default Cdc mode is <see cref="Cdc.CdcWorker"/>).
/// Polls PostgreSQL and publishes each row to Kafka, keyed by id, to the partition murmur2(key) picks.
/// Order of work per batch: read rows after the saved position, produce them all, wait for every ack, then save the
/// new position. After a crash the saved position may lag what Kafka holds; <see cref="TopicTail"/> tells which of the
/// re-read rows are already there, so none is sent twice and none is missed.
/// </summary>
public sealed class SourceWorker(
    NpgsqlDataSource db,
    IOptions<SourceOptions> options,
    SourceKafka kafka,
    IHostApplicationLifetime lifetime,
    ILogger<SourceWorker> logger) : BackgroundService
{
    private static readonly KeyValuePair<string, object?> s_service = new("service", "source");
    private readonly SourceOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var ct = stoppingToken;
        using var types = new PgTypeCatalog(db);
        var reader = new UsersReader(db, new TableRows(types, _options.TraceParentColumn, (table, column, what) =>
            logger.LogWarning("{Table}.{Column}: a value ({What}) has no representation in the event's field type; sent as null", table, column, what)),
            _options);
        var offsets = new OffsetStore(db, _options);
        try
        {
            await StartupRetry.WaitForAsync("PostgreSQL (ConnectionStrings:usersdb)", async c =>
            {
                await UsersSchema.EnsureAsync(db, _options.Table, logger, c);
                await offsets.EnsureAsync(c);
            }, logger, ct);
        }
        catch (NotRetriableException e)
        {
            e.StopService(lifetime, logger);
            return;
        }

        var tail = await StartupRetry.WaitForAsync($"Kafka topic {_options.Topic} (ConnectionStrings:kafka)",
            c => Task.Run(() => TopicTail.Read(kafka.Clients, _options.Topic, reader.PositionOf, TimeSpan.FromSeconds(10)), c),
            logger, ct);

        var position = await offsets.LoadAsync(ct) ?? SourcePosition.Start;
        if (tail.IsEmpty && position != SourcePosition.Start)
        {
            // An empty topic with a saved position means the topic was recreated (e.g. the in-memory broker restarted).
            logger.LogWarning("Topic {Topic} is empty but the saved position is {Position}; publishing the table again from the start",
                _options.Topic, position);
            position = SourcePosition.Start;
        }
        var replayUpTo = tail.LastPositions.Values.DefaultIfEmpty(SourcePosition.Start).Max();
        logger.LogInformation("Source {Mode} on {Table} -> {Topic} ({Partitions} partitions) from position {Position}; already in Kafka up to {Tail}",
            _options.Mode, _options.Table, _options.Topic, tail.PartitionCount, position, replayUpTo);

        var summary = Stopwatch.StartNew();
        long published = 0, skipped = 0, lastPublished = 0;
        Task<IReadOnlyList<SourceRow>>? nextBatch = null;
        while (!ct.IsCancellationRequested)
        {
            var rows = await (nextBatch ?? RetryAsync("reading the next rows", c => reader.ReadAfterAsync(position, c), ct));
            nextBatch = null;
            PipelineTelemetry.RecordsIn.Add(rows.Count, s_service);
            if (rows.Count > 0)
            {
                var last = rows[^1].Position;
                // A full batch means more is waiting: read the next one while Kafka acknowledges this one. Reading
                // ahead changes nothing durable; the position is still saved only after the acks.
                if (rows.Count == _options.BatchSize)
                    nextBatch = RetryAsync("reading the next rows", c => reader.ReadAfterAsync(last, c), ct);
                var toSend = rows;
                if (position < replayUpTo)
                {
                    toSend = rows.Where(r => !AlreadyDelivered(r, tail)).ToList();
                    skipped += rows.Count - toSend.Count;
                }
                await kafka.PublishAsync(_options.Topic, tail.PartitionCount, toSend, ct);
                position = last;
                await RetryAsync("saving the source position", c => offsets.SaveAsync(position, c), ct);
                published += toSend.Count;
            }

            if (summary.Elapsed >= TimeSpan.FromSeconds(10))
            {
                logger.LogInformation("Published {Published} rows to {Topic} ({Rate:F0}/s), skipped {Skipped} already in Kafka, position {Position}",
                    published, _options.Topic, (published - lastPublished) / summary.Elapsed.TotalSeconds, skipped, position);
                lastPublished = published;
                summary.Restart();
            }
            // A full batch means more is waiting: poll again at once.
            if (rows.Count < _options.BatchSize) await Task.Delay(_options.PollInterval, ct);
        }
    }

    private static bool AlreadyDelivered(SourceRow row, TopicTail tail) =>
        tail.LastPositions.TryGetValue(Murmur2Partitioner.Partition(SourceKafka.KeyOf(row.Row), tail.PartitionCount), out var last)
        && row.Position <= last;

    private Task<T> RetryAsync<T>(string what, Func<CancellationToken, Task<T>> action, CancellationToken ct) =>
        Backoff.UntilDoneAsync("PostgreSQL", what, action, s_maxRetryDelay, logger, ct, IsTransient);

    private Task RetryAsync(string what, Func<CancellationToken, Task> action, CancellationToken ct) =>
        Backoff.UntilDoneAsync("PostgreSQL", what, action, s_maxRetryDelay, logger, ct, IsTransient);

    private static readonly TimeSpan s_maxRetryDelay = TimeSpan.FromSeconds(5);

    private static bool IsTransient(Exception e) => e is NpgsqlException or TimeoutException;
}
