using System.Diagnostics;
using Confluent.Kafka;

namespace KafkaPipeline.Shared.Sinks;

/// <summary>
/// Follows each record from its put to the moment the task reports it durable, and then records what that means:
/// the end-to-end latency (from the PostgreSQL commit time the record carries, source.commit_ts, else when Kafka got it),
/// the written count, and one span per traced record (from the put to the durable point, in the record's own trace).
/// A record redelivered after a retry is followed once.
/// </summary>
internal sealed class SinkDurability(ISinkTask task, SinkOptions options, SinkProgress progress)
{
    private readonly record struct Entry(long Offset, string Key, DateTime CommittedAt, ActivityContext Trace, DateTime PutAt);

    private readonly KeyValuePair<string, object?> _sinkTag = new("sink", options.Store);
    private readonly KeyValuePair<string, object?> _serviceTag = new("service", options.Service);
    private readonly Dictionary<TopicPartition, Queue<Entry>> _waiting = [];
    // Per partition, the offset after the last record followed: a redelivered record below it is not followed again.
    private readonly Dictionary<TopicPartition, long> _followed = [];

    public void Follow(IEnumerable<SinkRecord> records, DateTime putAt)
    {
        var traced = PipelineTelemetry.Source.HasListeners();
        foreach (var r in records)
        {
            var tp = r.TopicPartition;
            if (_followed.TryGetValue(tp, out var next) && r.Offset < next) continue;
            _followed[tp] = r.Offset + 1;
            if (!_waiting.TryGetValue(tp, out var queue)) _waiting[tp] = queue = new Queue<Entry>();
            var trace = traced ? PipelineTelemetry.Extract(r.Message.Message.Headers) : default;
            queue.Enqueue(new Entry(r.Offset, r.Key, r.VersionTime, trace, putAt));
        }
    }

    /// <summary>Everything before <paramref name="durable"/>[partition] is stored as of <paramref name="at"/>.</summary>
    public void Durable(IReadOnlyDictionary<TopicPartition, long> durable, DateTime at)
    {
        long written = 0;
        DateTime? newest = null;
        foreach (var (tp, offset) in durable)
        {
            if (!_waiting.TryGetValue(tp, out var queue)) continue;
            while (queue.TryPeek(out var e) && e.Offset < offset)
            {
                queue.Dequeue();
                written++;
                PipelineTelemetry.EndToEndLatency.Record((at - e.CommittedAt).TotalMilliseconds, _sinkTag);
                if (newest is null || e.CommittedAt > newest) newest = e.CommittedAt;
                if (e.Trace != default) Span(tp, e, at);
            }
        }
        if (written == 0) return;
        progress.AddWritten(written);
        PipelineTelemetry.RecordsOut.Add(written, _serviceTag);
        progress.LastLatencyMs = (at - newest!.Value).TotalMilliseconds;
    }

    public void Forget(TopicPartition tp)
    {
        _waiting.Remove(tp);
        _followed.Remove(tp);
    }

    private void Span(TopicPartition tp, Entry e, DateTime at)
    {
        using var span = PipelineTelemetry.Source.StartActivity(task.SpanName, ActivityKind.Client, e.Trace, startTime: e.PutAt);
        if (span is null) return;
        span.SetTag("messaging.destination.name", tp.Topic);
        span.SetTag("messaging.kafka.partition", tp.Partition.Value);
        span.SetTag("messaging.kafka.offset", e.Offset);
        span.SetTag("messaging.kafka.message.key", e.Key);
        task.Describe(span, tp, e.Offset);
        span.SetEndTime(at);
    }
}
