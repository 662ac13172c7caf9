using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.SourceService;
using KafkaPipeline.SourceService.Cdc;

namespace KafkaPipeline.UnitTests.Source;

public sealed class CdcUnitTests
{
    private static readonly SourceEpoch s_epoch = new(2, 7, 1, 100);

    private static Headers Event(string op, ulong commitLsn, ulong changeLsn, long? index, SourceEpoch? epoch = null)
    {
        var headers = new Headers();
        ChangeHeaders.Write(headers, new ChangeMetadata(op, new SourceVersion(commitLsn, changeLsn), DateTime.UtcNow, index, Epoch: epoch ?? s_epoch));
        return headers;
    }

    [Fact]
    public void Only_streamed_events_count_for_the_tail_never_snapshot_rows_or_polling_records()
    {
        Assert.Equal(new StreamPosition(500, 3), ChangeTail.StreamedPosition(Event(ChangeOp.Update, 500, 480, 3), s_epoch));
        // A snapshot row has the consistent point as commit LSN; the first streamed transaction may commit exactly there.
        Assert.Null(ChangeTail.StreamedPosition(Event(ChangeOp.Read, 500, 0, 99_999), s_epoch));
        Assert.Null(ChangeTail.StreamedPosition(Event(ChangeOp.Delete, 500, 0, 100_000), s_epoch)); // a reconcile tombstone
        Assert.Null(ChangeTail.StreamedPosition(Event(ChangeOp.Create, 500, 480, null), s_epoch)); // no index: not ours
        Assert.Null(ChangeTail.StreamedPosition(new Headers(), s_epoch)); // a polling record
        // Another history: its LSNs say nothing about this one's (a restore, a new cluster).
        Assert.Null(ChangeTail.StreamedPosition(Event(ChangeOp.Update, 900, 880, 0, new SourceEpoch(1, 7, 1, 50)), s_epoch));
        Assert.True(new StreamPosition(500, 0) > new StreamPosition(499, 7));
        Assert.True(new StreamPosition(500, 2) > new StreamPosition(500, 1));
    }

    [Fact]
    public void The_flush_position_moves_only_over_transactions_acknowledged_completely_and_in_log_order()
    {
        var confirmed = new List<ulong>();
        var tracker = new FlushTracker(confirmed.Add);
        var first = tracker.Begin();
        tracker.Sent(first);
        tracker.Sent(first);
        tracker.Close(first, 100);
        var second = tracker.Begin();
        tracker.Sent(second);
        tracker.Close(second, 200);
        tracker.Mark(250); // a heartbeat after both

        tracker.Delivered(second, null); // the later transaction is acknowledged first: nothing may be confirmed yet
        Assert.Equal(0UL, tracker.Confirmed);
        tracker.Delivered(first, null);
        Assert.Equal(0UL, tracker.Confirmed); // one event of the first still in flight
        tracker.Delivered(first, null);
        Assert.Equal(250UL, tracker.Confirmed);
        Assert.Equal([250UL], confirmed);
        Assert.Equal(0, tracker.OpenTransactions);
    }

    [Fact]
    public async Task A_delivery_failure_is_reported_and_never_confirmed()
    {
        var tracker = new FlushTracker(_ => { });
        var tx = tracker.Begin();
        tracker.Sent(tx);
        tracker.Close(tx, 100);
        tracker.Delivered(tx, new KafkaException(ErrorCode.Local_MsgTimedOut));
        Assert.NotNull(tracker.Failure);
        await Assert.ThrowsAsync<InvalidOperationException>(() => tracker.WaitForAsync(200, CancellationToken.None));
    }

    [Fact]
    public void A_failed_delivery_stops_the_flush_position_before_its_transaction_for_good()
    {
        var confirmed = new List<ulong>();
        var tracker = new FlushTracker(confirmed.Add);
        var ok = tracker.Begin();
        tracker.Sent(ok);
        tracker.Close(ok, 100);
        var failed = tracker.Begin();
        tracker.Sent(failed);
        tracker.Sent(failed);
        tracker.Close(failed, 200);
        var later = tracker.Begin();
        tracker.Sent(later);
        tracker.Close(later, 300);
        tracker.Mark(350);

        tracker.Delivered(ok, null);
        tracker.Delivered(failed, new KafkaException(ErrorCode.TopicAuthorizationFailed));
        tracker.Delivered(failed, null);
        tracker.Delivered(later, null);
        Assert.Equal(100UL, tracker.Confirmed); // everything before the failed transaction, nothing from it on
        Assert.Equal([100UL], confirmed);
        Assert.Equal(ErrorCode.TopicAuthorizationFailed, Assert.IsType<KafkaException>(tracker.Failure).Error.Code);
    }

    [Fact]
    public void Cdc_is_the_default_mode_and_names_its_publication_and_slot_after_the_table()
    {
        var options = new SourceOptions();
        Assert.Equal(SourceMode.Cdc, options.Mode);
        Assert.Equal("kafka_pipeline_users", options.PublicationName);
        Assert.Equal("kafka_pipeline_users", options.SlotName);
        Assert.Equal("kafka_pipeline_customers", new SourceOptions { Table = "Customers" }.SlotName);
    }

    [Theory]
    [InlineData("Slot", "Upper_Case")]
    [InlineData("Slot", "with-dash")]
    [InlineData("Slot", "slot\n")]
    [InlineData("Publication", "pub lication")]
    [InlineData("Publication", "pub\n")]
    [InlineData("CdcStateTable", "state;drop")]
    public void Bad_cdc_names_are_refused_naming_the_setting(string property, string value)
    {
        var options = new SourceOptions();
        typeof(SourceOptions).GetProperty(property)!.SetValue(options, value);
        Assert.Contains(options.Validate("Source"), m => m.StartsWith($"Source:{property}", StringComparison.Ordinal));
    }

    [Fact]
    public void Zero_cdc_intervals_are_refused()
    {
        var messages = new SourceOptions { HeartbeatInterval = TimeSpan.Zero, StatusInterval = TimeSpan.Zero, StandbyRetryInterval = TimeSpan.Zero }
            .Validate("Source").ToList();
        Assert.Contains(messages, m => m.StartsWith("Source:HeartbeatInterval", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("Source:StatusInterval", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("Source:StandbyRetryInterval", StringComparison.Ordinal));
    }

    [Fact]
    public void A_server_without_logical_wal_is_refused_with_the_fix()
    {
        Assert.Null(CdcSetup.WalLevelProblem("logical"));
        var problem = CdcSetup.WalLevelProblem("replica");
        Assert.NotNull(problem);
        Assert.Contains("wal_level=replica", problem, StringComparison.Ordinal);
        Assert.Contains("ALTER SYSTEM SET wal_level = logical", problem, StringComparison.Ordinal);
        Assert.Contains("ALTER ROLE \"etl\" REPLICATION", CdcSetup.NoReplicationProblem("etl"), StringComparison.Ordinal);
    }
}
