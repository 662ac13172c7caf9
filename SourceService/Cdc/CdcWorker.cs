using System.Diagnostics;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Postgres;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// Source:Mode=Cdc. Streams the users table's changes from PostgreSQL's log (logical replication, pgoutput) into Kafka:
/// <list type="number">
/// <item>becomes the active source for the slot (<see cref="SourceLeadership"/>), or waits as a standby;</item>
/// <item>checks the server and creates the publication and the slot when missing; a new slot starts with the table's
/// snapshot at its consistent point (<see cref="InitialSnapshot"/>);</item>
/// <item>sends every change the moment it arrives (no poll interval) and tells PostgreSQL it may forget the log up to a
/// transaction only after Kafka acknowledged all of its events (<see cref="FlushTracker"/>); after a crash the slot
/// re-sends from there and <see cref="ChangeTail"/> skips what Kafka already holds: each change exactly once;</item>
/// <item>writes a heartbeat into the log so the slot advances while the table is idle.</item>
/// </list>
/// </summary>
public sealed class CdcWorker(
    IConfiguration configuration,
    NpgsqlDataSource db,
    KafkaClients kafkaClients,
    IOptions<SourceOptions> options,
    PipelineHealth health,
    IHostApplicationLifetime lifetime,
    ILogger<CdcWorker> logger) : BackgroundService
{
    private readonly SourceOptions _options = options.Value;
    private readonly string _postgres = ConnectionNames.Require(configuration, ConnectionNames.Postgres);
    private readonly PgTypeCatalog _types = new(db);

    public override void Dispose()
    {
        _types.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var ct = stoppingToken;
        var state = new SnapshotState(db, _options);
        try
        {
            await StartupRetry.WaitForAsync("PostgreSQL (ConnectionStrings:usersdb)", state.EnsureAsync, logger, ct);

            var delays = new Backoff.Delays();
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    await using var leader = await SourceLeadership.AcquireAsync(_postgres, _options, logger, ct);
                    // Only a session that gets something confirmed counts as recovered: one that streams and then fails on
                    // the same event again backs off instead of starting over several times a second.
                    await RunActiveAsync(leader, state, () =>
                    {
                        delays.Reset();
                        health.Clear("kafka-refused");
                    }, ct);
                }
                catch (PostgresException e) when (e.SqlState.StartsWith("42", StringComparison.Ordinal))
                {
                    // Class 42 (a missing right, an object that is not as expected): the same statement fails again.
                    throw new NotRetriableException(
                        $"PostgreSQL refused a statement of the source ({e.SqlState}: {e.MessageText}). Its role needs SELECT on " +
                        $"table {_options.Table} (snapshot), REPLICATION, and the rights in docs/source.md, \"Errors that stop the source\".", e);
                }
                catch (Exception e) when (IsTransient(e) && !ct.IsCancellationRequested)
                {
                    PipelineTelemetry.Errors.Add(1, new KeyValuePair<string, object?>("service", "source"));
                    var refusal = KafkaRefusal(e);
                    // Retrying cannot fix a refusal by itself; an operator can (a larger limit, a right), so retry slowly.
                    var delay = refusal is null ? delays.Next(s_maxRetry) : delays.Next(s_maxRefusedRetry, atLeast: s_refusedRetry);
                    if (refusal is not null)
                    {
                        var text = $"Kafka refuses an event of {_options.Table} ({refusal.Error.Code}: {refusal.Error.Reason}). Nothing from its " +
                            "transaction on is confirmed to PostgreSQL (the slot keeps that WAL), and the source tries again every " +
                            $"{delay.TotalSeconds:0} s. Fix: {RefusalFix(refusal.Error.Code)}";
                        health.Report("kafka-refused", HealthStatus.Unhealthy, text);
                        logger.LogError("{Problem}", text);
                    }
                    else
                    {
                        logger.LogWarning("Change stream stopped ({Error}); starting over in {Delay} ms", e.Message, (int)delay.TotalMilliseconds);
                    }
                    await Task.Delay(delay, ct);
                }
            }
        }
        catch (NotRetriableException e)
        {
            e.StopService(lifetime, logger);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // stopping
        }
        catch (Exception e)
        {
            // Not a lost connection: a fatal producer error or a bug. Stop with a non-zero exit code (and restart: the
            // slot and the topic's tail say where to resume).
            logger.LogCritical(e, "The change stream failed; stopping");
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
    }

    private static readonly TimeSpan s_maxRetry = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan s_refusedRetry = TimeSpan.FromSeconds(5), s_maxRefusedRetry = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Lost connections and timeouts, and Kafka's refusals (retried slowly); anything else (a bug) stops the service.
    /// Npgsql's replication connection can also fail with a NullReferenceException or ObjectDisposedException of its
    /// own when PostgreSQL closed it under a source that was frozen (wal_sender_timeout): a lost connection too.
    /// </summary>
    internal static bool IsTransient(Exception e) => e is NpgsqlException or IOException or TimeoutException or KafkaException
        or InvalidOperationException { InnerException: KafkaException }
        or NullReferenceException { Source: "Npgsql" } or ObjectDisposedException { Source: "Npgsql" };

    /// <summary>The Kafka error when <paramref name="e"/> is a refusal that retrying alone does not fix, else null.</summary>
    private static KafkaException? KafkaRefusal(Exception e)
    {
        var kafka = e as KafkaException ?? e.InnerException as KafkaException;
        return kafka?.Error.Code is ErrorCode.MsgSizeTooLarge or ErrorCode.RecordListTooLarge
            or ErrorCode.TopicAuthorizationFailed or ErrorCode.ClusterAuthorizationFailed or ErrorCode.TransactionalIdAuthorizationFailed
            or ErrorCode.InvalidRecord or ErrorCode.Local_Fatal or ErrorCode.PolicyViolation
            ? kafka : null;
    }

    private static string RefusalFix(ErrorCode code) => code switch
    {
        ErrorCode.MsgSizeTooLarge or ErrorCode.RecordListTooLarge =>
            "the event is larger than Kafka accepts: raise the topic's max.message.bytes and the source's message.max.bytes " +
            "(Source:ProducerOverrides:message.max.bytes), or make the row smaller.",
        ErrorCode.TopicAuthorizationFailed or ErrorCode.ClusterAuthorizationFailed or ErrorCode.TransactionalIdAuthorizationFailed =>
            "grant the source's Kafka principal WRITE on the topic (and IDEMPOTENT_WRITE on the cluster).",
        _ => "read the error above; the source resumes by itself once Kafka accepts the event.",
    };

    private async Task RunActiveAsync(SourceLeadership leader, SnapshotState state, Action madeProgress, CancellationToken ct)
    {
        var setup = new CdcSetup(db, _options);
        await setup.CheckServerAsync(ct);
        var capture = new CaptureSet(_options);
        await using (var conn = await db.OpenConnectionAsync(ct)) await capture.RefreshAsync(conn, ct);
        if (capture.Tables.FirstOrDefault(t => t.KeyProblem is not null) is { } keyless)
            throw new NotRetriableException($"Pipeline:Tables lists {keyless.Listed}, which the source cannot capture: {keyless.KeyProblem}");
        ReportMissing(capture);
        var tableStates = new TableStates(db, _options);
        var states = await tableStates.LoadAsync(ct);
        await SyncPublicationAsync(leader, setup, capture, tableStates, states, ct);
        var partitions = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var topic in capture.Topics)
            partitions[topic] = await Task.Run(() => TopicTail.ReadPartitionCount(kafkaClients.BootstrapServers, topic, TimeSpan.FromSeconds(10)), ct);

        var slot = await setup.ReadSlotAsync(ct);
        var completed = await state.LoadAsync(ct);
        if (slot is not null && ReplaceReason(slot, completed, partitions) is { } reason)
        {
            logger.LogWarning("Replacing slot {Slot}, with a new snapshot compared against the topics (a new epoch): {Reason}", _options.SlotName, reason);
            await setup.DropSlotAsync(leader, ct);
            slot = null;
        }

        // The server ends a replication session whose client stops answering (frozen, cut off), freeing the slot for a standby.
        var replicationConnection = new NpgsqlConnectionStringBuilder(_postgres)
        {
            Options = SourceLeadership.ServerSideKeepalives + $" -c wal_sender_timeout={(int)_options.LeaseTimeout.TotalMilliseconds}",
        }.ConnectionString;
        await using var replication = new LogicalReplicationConnection(replicationConnection)
        {
            WalReceiverStatusInterval = _options.StatusInterval,
        };
        await OpenReplicationAsync(replication, ct);
        var system = await replication.IdentifySystem(ct);

        // A fresh producer per session: a fatal producer error (should one happen) does not outlive it.
        using var kafka = new SourceKafka(kafkaClients, ProducerSettings());
        // Confirmed positions are recorded first and told to PostgreSQL by the status loop (StatusAsync).
        var tracker = new FlushTracker(_ => { });
        var publisher = new ChangePublisher(kafka, partitions, tracker);

        ulong slotPoint;
        if (slot is null)
        {
            await state.ForgetAsync(leader, ct);
            await tableStates.ForgetAllAsync(leader, ct);
            var created = await CreateSlotAsync(replication, ct);
            var consistentPoint = (ulong)created.ConsistentPoint;
            var snapshot = new InitialSnapshot(_postgres, Rows(), logger);
            var tables = capture.Capturable.ToList();
            await using (var connection = await snapshot.OpenAsync(created.SnapshotName!, ct))
            {
                var clock = Stopwatch.StartNew();
                var topicStates = new Dictionary<string, Dictionary<string, UInt128>?>(StringComparer.Ordinal);
                long topicEpoch = 0;
                foreach (var topic in partitions.Keys)
                {
                    var (latest, highest) = await Task.Run(() => TopicState.Read(kafkaClients, topic, partitions[topic], ct), ct);
                    topicStates[topic] = latest;
                    topicEpoch = Math.Max(topicEpoch, highest);
                }
                // A new slot is a new history: numbered above every epoch the topics or this database have seen.
                publisher.Epoch = new SourceEpoch(Math.Max(topicEpoch, await state.HighestOrdinalAsync(ct)) + 1,
                    ulong.Parse(system.SystemId, System.Globalization.CultureInfo.InvariantCulture),
                    (uint)system.Timeline, consistentPoint);
                logger.LogInformation("Created slot {Slot} at {Lsn} (epoch {Epoch}); publishing the snapshot of {Tables}", _options.SlotName,
                    created.ConsistentPoint, publisher.Epoch, tables.Count == 0 ? "no table yet" : string.Join(", ", tables.Select(t => t.QualifiedName)));
                var rows = await snapshot.PublishAsync(connection, consistentPoint, tables, topicStates, publisher, tracker, ct);
                logger.LogInformation("Snapshot of {Rows} rows took {Seconds:F1} s ({Rate:F0} rows/s)", rows, clock.Elapsed.TotalSeconds, rows / clock.Elapsed.TotalSeconds);
            }
            foreach (var t in tables)
            {
                states[t.QualifiedName] = new TableState(t.QualifiedName, states.GetValueOrDefault(t.QualifiedName)?.AddedBySource ?? true, true, null);
                await tableStates.SaveAsync(leader, states[t.QualifiedName], ct);
            }
            await state.SaveAsync(leader, consistentPoint, publisher.Sent, publisher.Epoch, partitions, ct);
            slotPoint = consistentPoint;
        }
        else
        {
            publisher.Epoch = completed!.Epoch;
            slotPoint = completed.ConsistentPoint;
        }

        using var session = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var snapshots = new IncrementalSnapshots(db, leader, Rows(), publisher, tracker, _options, logger);
        foreach (var t in capture.Capturable.Where(t => states.GetValueOrDefault(t.QualifiedName)?.SnapshotDone != true)) snapshots.Enqueue(t);
        await leader.RenewAsync(ct); // still the lock holder, right before streaming
        var tasks = new[]
        {
            StreamAsync(replication, capture, publisher, tracker, snapshots, partitions, madeProgress, session.Token),
            HeartbeatAsync(leader, setup, capture, tableStates, states, snapshots, publisher, tracker, session.Token),
            StatusAsync(leader, state, tableStates, snapshots, replication, tracker, slotPoint, partitions, session.Token),
            snapshots.RunAsync(states, session.Token),
        };
        var first = await Task.WhenAny(tasks);
        await session.CancelAsync();
        try
        {
            await Task.WhenAll(tasks);
        }
        catch (Exception) when (first.IsCompleted)
        {
            // Observed here; the first task's outcome below says why the session ended.
        }
        await first;
        throw new IOException("the change stream ended");
    }

    /// <summary>
    /// Puts every capturable listed table in the publication (and records that the source did, and that its rows still
    /// need a snapshot), takes out the ones the source put in that are no longer listed. Returns the tables put in.
    /// </summary>
    private async Task<List<CapturedTableInfo>> SyncPublicationAsync(SourceLeadership leader, CdcSetup setup, CaptureSet capture, TableStates tableStates,
        Dictionary<string, TableState> states, CancellationToken ct)
    {
        var (added, removed) = await setup.SyncPublicationAsync(leader, capture, states, ct);
        foreach (var t in added)
        {
            if (states.TryGetValue(t.QualifiedName, out var known) && known.SnapshotDone) continue;
            states[t.QualifiedName] = new TableState(t.QualifiedName, true, false, null);
            await tableStates.SaveAsync(leader, states[t.QualifiedName], ct);
            logger.LogInformation("Capturing {Table} to {Topic} from now on", t.QualifiedName, t.Topic);
        }
        foreach (var name in removed)
        {
            states.Remove(name);
            await tableStates.DeleteAsync(leader, name, ct);
            logger.LogInformation("Stopped capturing {Table}: it is no longer in Pipeline:Tables (taken out of publication {Publication})", name, _options.PublicationName);
        }
        return added;
    }

    private void ReportMissing(CaptureSet capture)
    {
        var missing = capture.Tables.Where(t => !t.Exists).Select(t => t.Listed.ToString()).ToList();
        if (missing.Count == 0)
        {
            health.Clear("missing-tables");
            return;
        }
        var text = $"Pipeline:Tables lists {string.Join(", ", missing)}, which do{(missing.Count == 1 ? "es" : "")} not exist yet; " +
                   "captured as soon as created (with a primary key)";
        if (!health.Conditions.TryGetValue("missing-tables", out var before) || before.Description != text) logger.LogWarning("{Problem}", text);
        health.Report("missing-tables", HealthStatus.Degraded, text);
    }

    private async Task OpenReplicationAsync(LogicalReplicationConnection replication, CancellationToken ct)
    {
        try
        {
            await replication.Open(ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new NotRetriableException(CdcSetup.NoReplicationProblem(new NpgsqlConnectionStringBuilder(_postgres).Username ?? "?") +
                $" (PostgreSQL: {e.MessageText})", e);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidAuthorizationSpecification)
        {
            throw new NotRetriableException(
                $"PostgreSQL refuses the source's replication connection ({e.MessageText}). Fix: allow it in pg_hba.conf, e.g. " +
                "\"host replication <role> <address> scram-sha-256\", then SELECT pg_reload_conf().", e);
        }
    }

    private async Task<PgOutputReplicationSlot> CreateSlotAsync(LogicalReplicationConnection replication, CancellationToken ct)
    {
        try
        {
            // Export: the slot's consistent snapshot stays importable until this connection's next command.
            return await replication.CreatePgOutputReplicationSlot(_options.SlotName, temporarySlot: false,
                slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ConfigurationLimitExceeded)
        {
            throw new NotRetriableException(
                $"PostgreSQL has no free replication slot for {_options.SlotName} ({e.MessageText}). Fix: drop slots nobody uses " +
                "(SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active AND ...) or raise max_replication_slots.", e);
        }
    }

    private async Task StreamAsync(LogicalReplicationConnection replication, CaptureSet capture, ChangePublisher publisher, FlushTracker tracker,
        IncrementalSnapshots snapshots, IReadOnlyDictionary<string, int> partitions, Action madeProgress, CancellationToken ct)
    {
        var progressed = false;
        var decoder = new RowDecoder(db, _types, capture, _options, logger);
        using var stream = new ChangeStream(decoder, publisher, tracker, snapshots);
        var replicationOptions = new PgOutputReplicationOptions(_options.PublicationName, PgOutputProtocolVersion.V1,
            binary: true, messages: true);
        logger.LogInformation("Streaming changes of {Tables} from slot {Slot} (publication {Publication}) to {Topics}",
            string.Join(", ", capture.Tables.Select(t => t.Listed)), _options.SlotName, _options.PublicationName,
            string.Join(", ", partitions.Select(p => $"{p.Key} ({p.Value} partitions)")));
        await foreach (var message in replication.StartReplication(new PgOutputReplicationSlot(_options.SlotName), replicationOptions, ct))
        {
            if (publisher.Tail is null)
            {
                // The slot streams to us, so no other source can write now: read what Kafka already holds.
                publisher.Tail = await Task.Run(() => ChangeTail.Read(kafkaClients, partitions, publisher.Epoch, TimeSpan.FromSeconds(30)), ct);
                logger.LogInformation("Slot {Slot} streams to this source; Kafka already holds up to {Tail}", _options.SlotName,
                    publisher.Tail.Last.Count == 0 ? "nothing of this stream"
                        : string.Join(", ", publisher.Tail.Last.OrderBy(p => p.Key).Select(p => $"{p.Key.Topic}/{p.Key.Partition}: {p.Value}")));
            }
            await stream.HandleAsync(message, ct);
            if (!progressed && tracker.Confirmed > 0)
            {
                progressed = true;
                madeProgress();
            }
            if (message is RelationMessage) ReportRelations(decoder);
        }
    }

    /// <summary>Why an existing slot cannot be resumed (its history has a gap or is not what Kafka holds), or null.</summary>
    private static string? ReplaceReason(SlotInfo slot, CompletedSnapshot? completed, IReadOnlyDictionary<string, int> partitions)
    {
        if (completed is null) return "its initial snapshot never completed (the source stopped during it)";
        if (slot.WalStatus == "lost") return "PostgreSQL invalidated it (max_slot_wal_keep_size)";
        if (completed.Partitions?.FirstOrDefault(r => partitions.TryGetValue(r.Key, out var now) && now != r.Value) is { Key: not null } changed)
            return $"{changed.Key} has {partitions[changed.Key]} partitions, the slot's events were keyed for {changed.Value}: " +
                "what Kafka holds of it cannot be matched by partition";
        if (completed.Confirmed is { } confirmed && slot.ConfirmedFlush is { } flushed && flushed > confirmed)
            return $"the slot is confirmed to {SourceVersion.FormatLsn(flushed)}, beyond the {SourceVersion.FormatLsn(confirmed)} this source confirmed: " +
                "it was advanced or recreated by someone else, and the changes between are not in Kafka";
        return null;
    }

    private Dictionary<string, string> ProducerSettings()
    {
        var settings = new Dictionary<string, string>(_options.ProducerOverrides);
        // A message not delivered within half the lease is failed (and sent again by the next session) rather than
        // delivered late: a source frozen past its lease must not write after the one that took over.
        settings.TryAdd("message.timeout.ms", ((int)(_options.LeaseTimeout.TotalMilliseconds / 2)).ToString(System.Globalization.CultureInfo.InvariantCulture));
        return settings;
    }

    /// <summary>
    /// Every Source:StatusInterval: renews the lease, records the position Kafka has acknowledged up to (and the
    /// incremental snapshots' chunks before it), for this slot only (if its record is gone, another source replaced the
    /// slot and this session ends), then tells PostgreSQL.
    /// </summary>
    private async Task StatusAsync(SourceLeadership leader, SnapshotState state, TableStates tableStates, IncrementalSnapshots snapshots,
        LogicalReplicationConnection replication, FlushTracker tracker, ulong slotPoint, IReadOnlyDictionary<string, int> partitions, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.StatusInterval);
        ulong told = 0;
        while (await timer.WaitForNextTickAsync(ct))
        {
            await leader.RenewAsync(ct);
            var confirmed = tracker.Confirmed;
            if (confirmed <= told) continue;
            await snapshots.RecordAsync(tableStates, confirmed, ct);
            if (!await state.SaveConfirmedAsync(leader, slotPoint, confirmed, partitions, ct))
                throw new IOException($"the state of slot {_options.SlotName} was replaced by another source; this session ends");
            replication.SetReplicationStatus(new NpgsqlLogSequenceNumber(confirmed));
            told = confirmed;
        }
    }

    private TableRows Rows() => new(_types, _options.TraceParentColumn, (table, column, what) =>
    {
        CdcTelemetry.Unrepresentable.Add(1);
        logger.LogWarning("{Table}.{Column}: a value ({What}) has no representation in the event's field type; sent as null", table, column, what);
    });

    private void ReportRelations(RowDecoder decoder)
    {
        var unsupported = decoder.Unsupported;
        if (unsupported.Count == 0) health.Clear("unsupported-columns");
        else
            health.Report("unsupported-columns", HealthStatus.Healthy,
                "columns left out of the events (their type is not carried; docs/events.md, type mapping): " +
                string.Join("; ", unsupported.Select(t => $"{t.Key}: {string.Join(", ", t.Value)}")));
        if (decoder.Ignored.Count == 0) health.Clear("ignored-tables");
        else
            health.Report("ignored-tables", HealthStatus.Healthy,
                $"the slot streams changes of {string.Join(", ", decoder.Ignored.Order())}, which are not in Pipeline:Tables: not published " +
                $"({decoder.IgnoredChanges} changes skipped so far). Someone added them to publication {_options.PublicationName}; to capture them, list them.");
    }

    /// <summary>
    /// Every Source:HeartbeatInterval: a heartbeat into the log, the slot's retained WAL for the metric, a look for listed
    /// tables created since (captured at once, their rows by an incremental snapshot), and a summary line. A failure
    /// here means the leader connection is gone: the session ends.
    /// </summary>
    private async Task HeartbeatAsync(SourceLeadership leader, CdcSetup setup, CaptureSet capture, TableStates tableStates,
        Dictionary<string, TableState> states, IncrementalSnapshots snapshots, ChangePublisher publisher, FlushTracker tracker, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval);
        var summary = Stopwatch.StartNew();
        long lastAcked = 0;
        var firstTick = true; // the first summary at once: the slot's state is worth seeing right after a start
        while (await timer.WaitForNextTickAsync(ct))
        {
            await leader.EmitHeartbeatAsync(ct);
            var slot = await ReplicationSlotStatus.ReadAsync(db, _options.SlotName, ct);
            CdcTelemetry.ReportSlot(slot);
            if (capture.Tables.Any(t => !t.Exists))
            {
                await using (var conn = await db.OpenConnectionAsync(ct)) await capture.RefreshAsync(conn, ct);
                foreach (var keyless in capture.Tables.Where(t => t.Exists && t.KeyProblem is not null))
                    health.Report($"table {keyless.Listed}", HealthStatus.Unhealthy, keyless.KeyProblem!);
                ReportMissing(capture);
                foreach (var added in await SyncPublicationAsync(leader, setup, capture, tableStates, states, ct)) snapshots.Enqueue(added);
            }
            if (firstTick || summary.Elapsed >= TimeSpan.FromSeconds(10))
            {
                firstTick = false;
                var acked = publisher.Acked;
                logger.LogInformation(
                    "Published {Acked} changes ({Rate:F0}/s), skipped {Skipped} already in Kafka; confirmed {Confirmed}; {Snapshots} incremental snapshots to go; slot {Slot} retains {Retained} bytes of WAL",
                    acked, (acked - lastAcked) / summary.Elapsed.TotalSeconds, publisher.Skipped,
                    SourceVersion.FormatLsn(tracker.Confirmed), snapshots.Pending, _options.SlotName, slot?.RetainedWalBytes);
                lastAcked = acked;
                summary.Restart();
            }
        }
    }
}
