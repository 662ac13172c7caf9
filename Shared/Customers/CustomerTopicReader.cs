using System.Runtime;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KafkaPipeline.Shared.Customers;

/// <summary>How far the reader is in the topic: it is caught up once it has read what the topic held when it started.</summary>
public sealed record ReaderProgress(bool CaughtUp, long Read, long AtStart);

/// <summary>
/// Reads the users topic from the beginning into a <see cref="CustomerTally"/> and then follows it. It joins no consumer
/// group and commits nothing: every start replays the topic, so the state is always the topic's, with no offset of its
/// own to get out of step. Partitions added later are picked up. A message that is not a user change is counted and
/// logged (the sinks dead-letter it); it never stops the reader.
/// </summary>
public sealed class CustomerTopicReader(KafkaClients kafka, string topic, CustomerTally tally, ILogger<CustomerTopicReader> logger)
    : BackgroundService
{
    private static readonly TimeSpan s_metadataRefresh = TimeSpan.FromSeconds(30);
    private readonly Dictionary<int, long> _startHigh = [];
    private long _atStart; // the sum of _startHigh: read after every message
    private readonly Dictionary<int, long> _next = [];
    private volatile ReaderProgress _progress = new(false, 0, 0);
    private long _read;
    private DateTime _lastSkipLog;

    public string Topic => topic;

    public ReaderProgress Progress => _progress;

    // librdkafka's consume call blocks: run the loop on its own thread, not on the host's start-up path.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => Run(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run(CancellationToken ct)
    {
        // Never joins a group (partitions are assigned by hand) and never commits; librdkafka only wants a group name.
        using var consumer = kafka.Consumer<byte[]?, byte[]?>($"{topic}-live-view-reader", $"{topic}-live-view-reader", c =>
        {
            c.EnablePartitionEof = true;
            // A live screen wants the next change at once. The prefetch: a larger one replays the topic faster at start
            // and costs resident memory; this is the middle of the two.
            c.QueuedMaxMessagesKbytes = 16_384;
        }).Build();
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var nextRefresh = DateTime.MinValue;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (DateTime.UtcNow >= nextRefresh)
                {
                    AssignNewPartitions(consumer, admin);
                    nextRefresh = DateTime.UtcNow + (_next.Count == 0 ? TimeSpan.FromSeconds(2) : s_metadataRefresh);
                }
                if (_next.Count == 0) { ct.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(500)); continue; }
                var result = consumer.Consume(TimeSpan.FromMilliseconds(250));
                if (result is null) continue;
                _next[result.Partition.Value] = result.Offset.Value + (result.IsPartitionEOF ? 0 : 1);
                if (!result.IsPartitionEOF) Apply(result);
                UpdateProgress();
            }
            catch (ConsumeException e)
            {
                logger.LogWarning("Reading {Topic}: {Error}; retrying", topic, e.Error.Reason);
                ct.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
            }
            catch (KafkaException e)
            {
                logger.LogWarning("Kafka metadata for {Topic}: {Error}; retrying", topic, e.Error.Reason);
                ct.WaitHandle.WaitOne(TimeSpan.FromSeconds(2));
            }
        }
        consumer.Close();
    }

    private void Apply(ConsumeResult<byte[]?, byte[]?> result)
    {
        _read++;
        if (CustomerChange.From(result.Message, out var error) is { } change)
        {
            tally.Apply(change);
            return;
        }
        tally.Skip();
        if (DateTime.UtcNow - _lastSkipLog > TimeSpan.FromSeconds(10))
        {
            _lastSkipLog = DateTime.UtcNow;
            logger.LogWarning("{Topic} partition {Partition} offset {Offset} is not a user change ({Error}): counted and left out " +
                "(at most one such line per 10 s)", topic, result.Partition.Value, result.Offset.Value, error);
        }
    }

    private void AssignNewPartitions(IConsumer<byte[]?, byte[]?> consumer, IAdminClient admin)
    {
        var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(5));
        var partitions = metadata.Topics.FirstOrDefault(t => t.Topic == topic && t.Error.Code == ErrorCode.NoError)?.Partitions;
        if (partitions is null || partitions.Count == 0)
        {
            if (_next.Count == 0) logger.LogInformation("Waiting for topic {Topic} to exist", topic);
            return;
        }
        var added = partitions.Select(p => p.PartitionId).Where(p => !_next.ContainsKey(p)).Order().ToList();
        if (added.Count == 0) return;
        foreach (var p in added)
        {
            _startHigh[p] = consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(5)).High.Value;
            _atStart += _startHigh[p];
            _next[p] = 0;
        }
        if (!_progress.CaughtUp) tally.Reserve(_atStart);
        consumer.IncrementalAssign(added.Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        logger.LogInformation("Reading {Topic} partitions {Partitions} from the beginning ({Messages} messages to replay)",
            topic, string.Join(",", added), added.Sum(p => _startHigh[p]));
        UpdateProgress();
    }

    private void UpdateProgress()
    {
        // Offsets below the low watermark (deleted by retention) are skipped by the consumer: positions, not counts.
        var caughtUp = _next.Count > 0 && ReachedStartEverywhere();
        if (caughtUp && !_progress.CaughtUp)
        {
            tally.ForgetLastChange();
            // The replay's garbage (parsed values, librdkafka's buffers copied into .NET) is gone now: one compacting
            // collection returns it to the system, so the steady state holds little more than the state itself.
            GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            logger.LogInformation("Caught up with {Topic}: {Read} messages read, {Customers} customers; managed heap {HeapMb:F1} MB after a full collection",
                topic, _read, tally.Snapshot().Customers, GC.GetGCMemoryInfo().HeapSizeBytes / 1048576.0);
        }
        _progress = new ReaderProgress(caughtUp, _read, _atStart);
    }

    // Called for every message: a plain loop, no LINQ.
    private bool ReachedStartEverywhere()
    {
        foreach (var (partition, high) in _startHigh)
        {
            if (_next.GetValueOrDefault(partition) < high) return false;
        }
        return true;
    }
}
