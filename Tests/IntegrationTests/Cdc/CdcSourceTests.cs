using System.Diagnostics;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.IntegrationTests.Pipeline;
using KafkaPipeline.Shared;
using Npgsql;
using NpgsqlTypes;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineConvergence;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Cdc;

/// <summary>
/// The Cdc source (Source:Mode=Cdc, the default) as a separate process against PostgreSQL and the embedded Kafka: every
/// committed change exactly once, under concurrent writers, kills, a standby taking over, and an initial snapshot.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class CdcSourceTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Load = TimeSpan.FromSeconds(30);
    private static readonly (string, string?) FastHeartbeat = ("Source:HeartbeatInterval", "00:00:01");

    [Fact]
    public async Task Concurrent_writers_and_the_generator_reach_Kafka_with_each_committed_change_exactly_once()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        await ChangeAudit.InstallAsync(h.Postgres);
        var source = h.Start(PipelineHarness.Source, FastHeartbeat);
        await source.WaitForOutputAsync("Streaming changes", Patience);

        h.StartGenerator(totalCount: 3_000, ratePerSecond: 100, maxBatchSize: 50, updateFraction: 0.3);
        await new ConcurrentWriters(h.Postgres, output).RunAsync(Load);
        await h.WaitForGeneratorAsync(Patience);

        var audit = await AssertExactlyOnceAsync(h);
        Assert.Equal(0, audit.SnapshotRows); // the table was empty when the slot was created
    }

    [Fact]
    public async Task Source_killed_five_times_during_concurrent_writes_loses_and_doubles_nothing()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        await ChangeAudit.InstallAsync(h.Postgres);
        var source = h.Start(PipelineHarness.Source, FastHeartbeat);
        await source.WaitForOutputAsync("Streaming changes", Patience);

        h.StartGenerator(totalCount: 3_000, ratePerSecond: 100, maxBatchSize: 50, updateFraction: 0.3);
        var writers = new ConcurrentWriters(h.Postgres, output, seed: 7).RunAsync(Load);
        var random = new Random(5);
        for (var kill = 1; kill <= 5; kill++)
        {
            // Mid-stream: after the slot streams to the (re)started source and it has published for a while.
            await h[PipelineHarness.Source].WaitForOutputAsync("streams to this source", Patience);
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(1_000, 4_000)));
            await h.KillAsync(PipelineHarness.Source);
            h.Log($"kill {kill}: {await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic)} messages in P_USERS");
            h.Restart(PipelineHarness.Source);
        }
        await writers;
        await h.WaitForGeneratorAsync(Patience);

        var audit = await AssertExactlyOnceAsync(h);
        Assert.Equal(0, audit.SnapshotRows);
    }

    [Fact]
    public async Task Initial_snapshot_of_one_hundred_thousand_users_while_writers_change_them_holds_each_change_once()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        await ChangeAudit.InstallAsync(h.Postgres);
        h.StartGenerator(totalCount: 100_000, ratePerSecond: 1_000_000, maxBatchSize: 5_000);
        await h.WaitForGeneratorAsync(Patience);

        // Writers insert, update and delete while the slot is created and the snapshot is read and published.
        var writers = new ConcurrentWriters(h.Postgres, output, seed: 11).RunAsync(TimeSpan.FromSeconds(20));
        await Task.Delay(TimeSpan.FromSeconds(3));
        var source = h.Start(PipelineHarness.Source, FastHeartbeat);
        await writers;

        var audit = await AssertExactlyOnceAsync(h);
        Assert.InRange(audit.SnapshotRows, 99_000, 101_000);
        Assert.True(audit.StreamedAfterSnapshot > 0, "no snapshot row was changed afterwards: the test did not overlap writes and the snapshot");
        Assert.Contains("Initial snapshot at", source.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_snapshot_cut_short_by_a_kill_is_replaced_without_sending_a_row_twice()
    {
        const int users = 100_000;
        await using var h = await PipelineHarness.StartAsync(output);
        h.StartGenerator(totalCount: users, ratePerSecond: 1_000_000, maxBatchSize: 5_000);
        await h.WaitForGeneratorAsync(Patience);

        var source = h.Start(PipelineHarness.Source, FastHeartbeat);
        await source.WaitForOutputAsync("publishing the snapshot of", Patience);
        await WaitUntilAsync("part of the snapshot in Kafka", async () => await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic) > 0,
            Patience, async () => $"{await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic)} messages", TimeSpan.FromMilliseconds(20));
        await h.KillAsync(PipelineHarness.Source);
        var partial = await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic);
        h.Log($"killed during the snapshot with {partial.Count} of {users} rows in Kafka");
        Assert.InRange(partial.Count, 1, users - 1);

        // While no source runs: some rows the partial snapshot holds are deleted or changed, some others too.
        await ExecuteAsync(h.Postgres, "DELETE FROM users WHERE id % 100 = 0; UPDATE users SET job = 'Changed while no source ran' WHERE id % 100 = 1");
        var table = await PostgresUsersAsync(h.Postgres);

        var restarted = h.Restart(PipelineHarness.Source);
        await restarted.WaitForOutputAsync("Replacing slot", Patience);
        await CdcConvergence.WaitForSourceAsync(h);

        // The new snapshot is compared against the topic: a row it holds unchanged is not sent again, a changed row is,
        // a row it holds that the table no longer has gets a tombstone; everything else arrives once.
        var held = partial.ToDictionary(m => m.User!.Id, m => m.User!);
        var expected = table.Values.Where(u => !held.TryGetValue(u.Id, out var h0) || h0 != u).Select(u => (u.Id, ChangeOp.Read, (UserRecord?)u))
            .Concat(held.Keys.Where(id => !table.ContainsKey(id)).Select(id => (id, ChangeOp.Delete, (UserRecord?)null)))
            .OrderBy(e => e.Item1).ToList();
        var topic = await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic);
        var before = partial.Select(m => (m.Partition, m.Offset)).ToHashSet();
        var sent = topic.Where(m => !before.Contains((m.Partition, m.Offset)))
            .Select(m => (long.Parse(m.KeyText, System.Globalization.CultureInfo.InvariantCulture), ChangeHeaders.ReadOp(m.Headers)!, m.User))
            .OrderBy(e => e.Item1).ToList();
        h.Log($"after the restart: {sent.Count} events ({sent.Count(e => e.Item2 == ChangeOp.Delete)} tombstones), expected {expected.Count}");
        Assert.Equal(expected.Count, sent.Count);
        Assert.True(expected.SequenceEqual(sent), "the events after the restart are not exactly the rows that differ from the topic");
        Assert.True(expected.Any(e => e.Item2 == ChangeOp.Delete), "no deleted row was in the partial snapshot: the test proves nothing about tombstones");
        ChangeLogAssert.ReplayEqualsTable(topic, table);
    }

    [Fact]
    public async Task The_slot_advances_while_users_is_idle_and_a_neighbour_table_is_busy_only_with_heartbeats()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        await ChangeAudit.InstallAsync(h.Postgres);
        await ExecuteAsync(h.Postgres, "CREATE TABLE neighbour (id bigserial PRIMARY KEY, payload text NOT NULL)");

        // Without heartbeats (one an hour) nothing tells the slot it may move: the neighbour's WAL piles up.
        var source = h.Start(PipelineHarness.Source, ("Source:HeartbeatInterval", "01:00:00"));
        await source.WaitForOutputAsync("Streaming changes", Patience);
        var before = await CdcConvergence.ConfirmedAsync(h.Postgres);
        await WriteNeighbourAsync(h.Postgres, TimeSpan.FromSeconds(5));
        var written = await CdcConvergence.CurrentLsnAsync(h.Postgres);
        await Task.Delay(TimeSpan.FromSeconds(5)); // several status intervals (1 s)
        var withoutHeartbeat = await CdcConvergence.ConfirmedAsync(h.Postgres);
        h.Log($"without heartbeats: confirmed {Lsn(before)} -> {Lsn(withoutHeartbeat)}, WAL written up to {Lsn(written)}");
        Assert.True(withoutHeartbeat < written, "the slot advanced without heartbeats: this test would prove nothing");

        await h.KillAsync(PipelineHarness.Source);
        h.Restart(PipelineHarness.Source, FastHeartbeat);
        var restartBefore = await CdcConvergence.RestartLsnAsync(h.Postgres);
        var busy = WriteNeighbourAsync(h.Postgres, TimeSpan.FromSeconds(20));
        await WaitUntilAsync("the confirmed LSN to pass the neighbour's WAL", async () => await CdcConvergence.ConfirmedAsync(h.Postgres) >= written,
            Patience, async () => $"confirmed {Lsn(await CdcConvergence.ConfirmedAsync(h.Postgres))}, target {Lsn(written)}", TimeSpan.FromMilliseconds(500));
        await busy;
        var end = await CdcConvergence.CurrentLsnAsync(h.Postgres);
        await WaitUntilAsync("the confirmed LSN to follow the busy neighbour", async () => await CdcConvergence.ConfirmedAsync(h.Postgres) >= end,
            Patience, async () => $"confirmed {Lsn(await CdcConvergence.ConfirmedAsync(h.Postgres))}, target {Lsn(end)}", TimeSpan.FromMilliseconds(500));
        // PostgreSQL frees WAL up to the restart LSN, which it moves with its periodic running-transactions record.
        await WaitUntilAsync("the restart LSN to move (retained WAL freed)", async () => await CdcConvergence.RestartLsnAsync(h.Postgres) > written,
            Patience, async () => $"restart LSN {Lsn(await CdcConvergence.RestartLsnAsync(h.Postgres))} (was {Lsn(restartBefore)}), target {Lsn(written)}", TimeSpan.FromSeconds(1));
        Assert.Equal(0, await EmbeddedKafkaCluster.CountMessagesAsync(h.Bootstrap, PipelineHarness.Topic));
        Assert.Contains("retains", h[PipelineHarness.Source].Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_sources_start_together_and_the_standby_takes_over_after_a_kill_with_nothing_lost_or_doubled()
    {
        const string second = "SourceService-2";
        await using var h = await PipelineHarness.StartAsync(output);
        await ChangeAudit.InstallAsync(h.Postgres);
        // Both at once: one creates the publication and the slot, the other waits as a standby.
        h.Start(PipelineHarness.Source, FastHeartbeat);
        h.StartInstance(PipelineHarness.Source, second, FastHeartbeat);
        var (active, standby) = await ActiveAndStandbyAsync(h, PipelineHarness.Source, second);

        h.StartGenerator(totalCount: 10_000, ratePerSecond: 500, maxBatchSize: 100, updateFraction: 0.2);
        var writers = new ConcurrentWriters(h.Postgres, output, seed: 3).RunAsync(TimeSpan.FromSeconds(25));
        for (var takeover = 1; takeover <= 2; takeover++)
        {
            await h[active].WaitForOutputAsync("streams to this source", Patience);
            await Task.Delay(TimeSpan.FromSeconds(4));
            await h.KillAsync(active);
            var clock = Stopwatch.StartNew();
            await h[standby].WaitForOutputAsync("Active: took over", Patience);
            await h[standby].WaitForOutputAsync("Streaming changes", Patience);
            h.Log($"takeover {takeover}: {standby} streams {clock.Elapsed.TotalSeconds:F1} s after kill -9 of {active}");
            h.Restart(active); // comes back as the standby
            (active, standby) = (standby, active);
            await h[standby].WaitForOutputAsync("Standby:", Patience);
        }
        await writers;
        await h.WaitForGeneratorAsync(Patience);

        var audit = await AssertExactlyOnceAsync(h);
        Assert.Equal(0, audit.SnapshotRows);
    }

    [Fact]
    public async Task A_frozen_active_source_is_replaced_within_its_lease_and_when_it_wakes_nothing_is_lost_or_doubled()
    {
        const string second = "SourceService-2";
        (string, string?) lease = ("Source:LeaseTimeout", "00:00:10");
        await using var h = await PipelineHarness.StartAsync(output);
        await ChangeAudit.InstallAsync(h.Postgres);
        h.Start(PipelineHarness.Source, FastHeartbeat, lease);
        h.StartInstance(PipelineHarness.Source, second, FastHeartbeat, lease);
        var (active, standby) = await ActiveAndStandbyAsync(h, PipelineHarness.Source, second);

        h.StartGenerator(totalCount: 6_000, ratePerSecond: 300, maxBatchSize: 30, updateFraction: 0.2);
        var writers = new ConcurrentWriters(h.Postgres, output, seed: 13).RunAsync(TimeSpan.FromSeconds(30));
        await h[active].WaitForOutputAsync("streams to this source", Patience);
        await Task.Delay(TimeSpan.FromSeconds(4));
        // SIGSTOP: its sessions stay open and its lock held, as for a frozen or cut-off host; only the lease says it is gone.
        await h[active].FreezeAsync();
        var clock = Stopwatch.StartNew();
        await h[standby].WaitForOutputAsync("Active: took over", Patience);
        await h[standby].WaitForOutputAsync("streams to this source", Patience);
        h.Log($"the standby streams {clock.Elapsed.TotalSeconds:F1} s after the active source froze (lease 10 s)");
        await Task.Delay(TimeSpan.FromSeconds(3));
        await h[active].ThawAsync();
        await writers;
        await h.WaitForGeneratorAsync(Patience);

        // The embedded Kafka cannot fence the frozen source's producer (its transactions do not fence): what it still held
        // may land when it wakes, as repeats of events the new source wrote, which every reader skips by position.
        var audit = await AssertExactlyOnceAsync(h, skipStaleRepeats: true);
        Assert.Equal(0, audit.SnapshotRows);
        Assert.False(h[active].Output.Contains("Active: took over", StringComparison.Ordinal), "the frozen source took the slot back");
    }

    [Fact]
    public async Task A_slot_advanced_by_someone_else_is_replaced_with_a_snapshot_and_no_change_is_lost()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.StartGenerator(totalCount: 300, ratePerSecond: 10_000, maxBatchSize: 100);
        await h.WaitForGeneratorAsync(Patience);
        h.Start(PipelineHarness.Source, FastHeartbeat);
        await CdcConvergence.WaitForSourceAsync(h);
        await h.KillAsync(PipelineHarness.Source);

        // While no source runs, changes are made and an operator moves the slot past them.
        await ExecuteAsync(h.Postgres, "UPDATE users SET job = 'skipped by the slot' WHERE id % 3 = 0; DELETE FROM users WHERE id % 10 = 1");
        await ExecuteAsync(h.Postgres, "SELECT pg_replication_slot_advance(slot_name, pg_current_wal_lsn()) FROM pg_replication_slots WHERE database = current_database()");
        var restarted = h.Restart(PipelineHarness.Source);
        await restarted.WaitForOutputAsync("advanced or recreated by someone else", Patience);
        await CdcConvergence.WaitForSourceAsync(h);
        ChangeLogAssert.ReplayEqualsTable(await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic), await PostgresUsersAsync(h.Postgres));
    }

    [Fact]
    public async Task A_topic_whose_partition_count_changed_gets_a_new_epoch_compared_against_it_not_a_dedupe_by_the_wrong_partition()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.StartGenerator(totalCount: 300, ratePerSecond: 10_000, maxBatchSize: 100);
        await h.WaitForGeneratorAsync(Patience);
        h.Start(PipelineHarness.Source, FastHeartbeat);
        await CdcConvergence.WaitForSourceAsync(h);
        await h.KillAsync(PipelineHarness.Source);
        // As if the slot's events had been keyed for another partition count (the topic was given more partitions).
        await ExecuteAsync(h.Postgres, "UPDATE kafka_pipeline_cdc_state SET topic_partitions = 'P_USERS=3'; UPDATE users SET job = 'after' WHERE id <= 20");
        var restarted = h.Restart(PipelineHarness.Source);
        await restarted.WaitForOutputAsync("cannot be matched by partition", Patience);
        await CdcConvergence.WaitForSourceAsync(h);
        var topic = await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic);
        ChangeLogAssert.ReplayEqualsTable(topic, await PostgresUsersAsync(h.Postgres));
        Assert.Equal(320, topic.Count); // the rows the topic held unchanged are not sent again
        Assert.Equal(20, topic.Count(m => ChangeHeaders.ReadEpoch(m.Headers).Ordinal == 2));
    }

    private static async Task<(string Active, string Standby)> ActiveAndStandbyAsync(PipelineHarness h, string a, string b)
    {
        await WaitUntilAsync("one source streaming and the other standing by", () => Task.FromResult(
                (Streaming(h[a]) && h[b].Output.Contains("Standby:", StringComparison.Ordinal)) ||
                (Streaming(h[b]) && h[a].Output.Contains("Standby:", StringComparison.Ordinal))),
            Patience, () => Task.FromResult($"{a} streaming: {Streaming(h[a])}, {b} streaming: {Streaming(h[b])}"), TimeSpan.FromMilliseconds(200));
        Assert.False(Streaming(h[a]) && Streaming(h[b]), "both sources stream");
        return Streaming(h[a]) ? (a, b) : (b, a);

        static bool Streaming(ServiceProcess p) => p.Output.Contains("Streaming changes", StringComparison.Ordinal);
    }

    private sealed record AuditResult(int SnapshotRows, int StreamedAfterSnapshot);

    /// <summary>Waits until Kafka holds everything committed so far, then checks the topic against the audit and the table.</summary>
    private static async Task<AuditResult> AssertExactlyOnceAsync(PipelineHarness h, bool skipStaleRepeats = false)
    {
        await CdcConvergence.WaitForSourceAsync(h);
        var topic = await ReadTopicAsync(h.Bootstrap, PipelineHarness.Topic);
        if (skipStaleRepeats)
        {
            topic = ChangeLogAssert.WithoutStaleRepeats(topic, out var repeats);
            h.Log($"{repeats} stale repeats in the topic (skipped by readers)");
        }
        var audit = await ChangeAudit.ReadAsync(h.Postgres);
        var table = await PostgresUsersAsync(h.Postgres);
        var snapshotRows = ChangeLogAssert.TopicHoldsEachCommittedChangeOnce(topic, audit, table);
        var ops = topic.GroupBy(m => ChangeHeaders.ReadOp(m.Headers)).ToDictionary(g => g.Key!, g => g.Count());
        var streamedAfterSnapshot = topic.GroupBy(m => m.KeyText)
            .Count(g => g.First().Headers is { } first && ChangeHeaders.ReadOp(first) == ChangeOp.Read && g.Count() > 1);
        h.Log($"verified: {topic.Count} events ({string.Join(", ", ops.OrderBy(o => o.Key).Select(o => $"{o.Key} {o.Value}"))}) " +
              $"for {audit.Count} ids, {audit.Values.Sum(a => a.Count)} committed changes, {table.Count} rows in PostgreSQL");
        if (snapshotRows == 0)
        {
            Assert.True(ops.GetValueOrDefault(ChangeOp.Create) > 0 && ops.GetValueOrDefault(ChangeOp.Update) > 0 && ops.GetValueOrDefault(ChangeOp.Delete) > 0,
                "the load did not insert, update and delete");
        }
        return new AuditResult(snapshotRows, streamedAfterSnapshot);
    }

    private static async Task WriteNeighbourAsync(string connectionString, TimeSpan duration)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            await using var insert = new NpgsqlCommand("INSERT INTO neighbour (payload) SELECT repeat('x', 200) FROM generate_series(1, 100)", connection);
            await insert.ExecuteNonQueryAsync();
            await Task.Delay(20);
        }
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync();
    }

    private static string Lsn(ulong lsn) => new NpgsqlLogSequenceNumber(lsn).ToString();
}
