using System.Diagnostics;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// Sends change events to their murmur2(key) partition as they come, without waiting for each other: the
/// <see cref="FlushTracker"/> learns of every ack, and the idempotent producer keeps each partition in send order.
/// Events a partition already holds (per <see cref="ChangeTail"/>, after a crash) are skipped. Each event goes to its
/// table's topic.
/// </summary>
public sealed class ChangePublisher(SourceKafka kafka, IReadOnlyDictionary<string, int> partitions, FlushTracker tracker)
{
    private static readonly KeyValuePair<string, object?> s_service = new("service", "source");
    private readonly ChangeHeaderWriter _headers = new();
    private long _sent;
    private long _acked;

    public long Sent => Interlocked.Read(ref _sent);
    public long Acked => Interlocked.Read(ref _acked);
    public long Skipped { get; private set; }

    /// <summary>Set once the slot streams to this source (so no other one can write meanwhile).</summary>
    public ChangeTail? Tail { get; set; }

    /// <summary>The history this session's positions belong to (every event carries it).</summary>
    public SourceEpoch Epoch { get; set; }

    public void Publish(ChangeEvent change, FlushTracker.Transaction tx)
    {
        var key = change.Key;
        var topic = change.Topic;
        var partition = Murmur2Partitioner.Partition(key, partitions[topic]);
        if (Tail?.Holds(topic, partition, change.Position) == true)
        {
            Skipped++;
            return;
        }

        var headers = new Headers();
        var activity = SourceKafka.StartPublish(topic, key, change.TraceParent, headers);
        activity?.SetTag("db.operation", change.Op);
        _headers.Write(headers, new ChangeMetadata(change.Op, change.Version, change.CommitTime, change.TxIndex, change.Table, change.TxId, Epoch,
            change.Unchanged));

        tracker.Sent(tx);
        Interlocked.Increment(ref _sent);
        // The callback captures only what it needs (not the event): thousands are in flight during a snapshot.
        var commitTime = change.Op == ChangeOp.Read ? (DateTime?)null : change.CommitTime; // a snapshot row's age is not a latency
        kafka.Produce(new TopicPartition(topic, partition), new Message<byte[], byte[]?> { Key = key, Value = change.Value, Headers = headers },
            report =>
            {
                activity?.Stop();
                if (report.Error.IsError)
                {
                    tracker.Delivered(tx, new KafkaException(report.Error));
                    return;
                }
                if (commitTime is { } committed) CdcTelemetry.CommitToAck.Record((DateTime.UtcNow - committed).TotalMilliseconds, s_service);
                PipelineTelemetry.RecordsOut.Add(1, s_service);
                Interlocked.Increment(ref _acked);
                tracker.Delivered(tx, null);
            });
    }
}
