using System.Diagnostics.Metrics;
using KafkaPipeline.Shared;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>The CDC source's own metrics, on the pipeline's meter.</summary>
public static class CdcTelemetry
{
    private static readonly KeyValuePair<string, object?> s_service = new("service", "source");
    private static long s_retainedWal = -1;
    private static long s_unconfirmedWal = -1;

    public static readonly Histogram<double> CommitToAck = PipelineTelemetry.Meter.CreateHistogram<double>(
        "kafkapipeline.source.commit_to_ack", "ms", "PostgreSQL commit of a change to Kafka's acknowledgement of its event");

    public static readonly Counter<long> Unrepresentable = PipelineTelemetry.Meter.CreateCounter<long>(
        "kafkapipeline.source.unrepresentable_values", "{value}",
        "Values the event's field type cannot represent (numeric NaN in a numeric(p,s) column, an infinite date), sent as null");

    public static readonly Counter<long> IgnoredChanges = PipelineTelemetry.Meter.CreateCounter<long>(
        "kafkapipeline.source.ignored_changes", "{change}",
        "Changes the slot streams of tables that are not captured (not in Pipeline:Tables), skipped");

    private static readonly ObservableGauge<long> s_retainedGauge = PipelineTelemetry.Meter.CreateObservableGauge(
        "kafkapipeline.source.slot.retained_wal", () => Observe(s_retainedWal), "By",
        "WAL PostgreSQL keeps for the source's replication slot (current WAL end minus the slot's restart LSN)");

    private static readonly ObservableGauge<long> s_unconfirmedGauge = PipelineTelemetry.Meter.CreateObservableGauge(
        "kafkapipeline.source.slot.unconfirmed_wal", () => Observe(s_unconfirmedWal), "By",
        "WAL written after the slot's confirmed flush LSN (what Kafka has not acknowledged yet, or not been told of)");

    public static void ReportSlot(ReplicationSlotStatus? status)
    {
        Interlocked.Exchange(ref s_retainedWal, status?.RetainedWalBytes ?? -1);
        Interlocked.Exchange(ref s_unconfirmedWal, status?.UnconfirmedWalBytes ?? -1);
    }

    private static IEnumerable<Measurement<long>> Observe(long value) =>
        value < 0 ? [] : [new Measurement<long>(value, s_service)];
}
