using KafkaPipeline.Tests;
using System.Collections.Concurrent;
using System.Diagnostics;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Sinks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KafkaPipeline.IntegrationTests.Sinks;

public sealed class FakeSinkOptions() : SinkOptions("fake-sink", "fake")
{
    protected override IEnumerable<string> ValidateSink(string section) => [];
}

/// <summary>What fake tasks stored, shared by the instances of one test: how often each (partition, offset) was stored.</summary>
internal sealed class FakeStore
{
    public ConcurrentDictionary<(int Partition, long Offset), int> Stored { get; } = new();
    public ConcurrentDictionary<(int Partition, long Offset), SinkRecord> Records { get; } = new();
    public int Duplicates => Stored.Values.Count(n => n > 1);
    /// <summary>How many times records were stored, repeats included.</summary>
    public int Stores => Stored.Values.Sum();
    public bool KeepRecords { get; init; } = true;
}

/// <summary>
/// A sink task whose store is a dictionary, with knobs for what a real target does: fail for a while, fail for good,
/// refuse records, hold records back (durable only later), resume partitions elsewhere, hold an attempt in progress.
/// </summary>
internal sealed class FakeSinkTask(FakeStore store) : ISinkTask
{
    private readonly ConcurrentDictionary<TopicPartition, long> _unflushedFrom = new();

    public volatile bool Failing;
    public volatile bool Fatal;
    public volatile bool Holding;
    public Func<SinkRecord, bool> Refuse { get; set; } = _ => false;
    public ConcurrentDictionary<int, long> StartAt { get; } = new();
    /// <summary>Per partition, the offset from which the task stores nothing and stops the partition (an operator's error).</summary>
    public ConcurrentDictionary<int, long> StopAt { get; } = new();
    private readonly ConcurrentDictionary<TopicPartition, long> _stoppedAt = new();
    private ISinkContext? _context;
    public TaskCompletionSource? Gate { get; set; }

    public ConcurrentQueue<int> PutSizes { get; } = new();
    public ConcurrentQueue<(long, int)> PutTimes { get; } = new();
    public ConcurrentQueue<List<(int, long)>> Attempts { get; } = new();
    public ConcurrentQueue<List<int>> Opened { get; } = new();
    public ConcurrentQueue<List<int>> Closed { get; } = new();
    public int PreCommits;

    public string Target => "the fake store";
    public string SpanName => "fake write";

    public Task StartAsync(ISinkContext context, CancellationToken ct)
    {
        _context = context;
        return Task.CompletedTask;
    }

    public Task<IReadOnlyDictionary<TopicPartition, long?>> OpenAsync(IReadOnlyDictionary<TopicPartition, long?> committed, CancellationToken ct)
    {
        Opened.Enqueue([.. committed.Keys.Select(p => p.Partition.Value)]);
        return Task.FromResult<IReadOnlyDictionary<TopicPartition, long?>>(committed.ToDictionary(kv => kv.Key,
            kv => StartAt.TryGetValue(kv.Key.Partition.Value, out var at) ? at : (long?)null));
    }

    public async Task<IReadOnlyList<ErrantRecord>> PutAsync(IReadOnlyList<SinkRecord> records, CancellationToken ct)
    {
        Attempts.Enqueue([.. records.Select(r => (r.TopicPartition.Partition.Value, r.Offset))]);
        PutTimes.Enqueue((System.Diagnostics.Stopwatch.GetTimestamp(), records.Count));
        if (Gate is { } gate) await gate.Task.WaitAsync(ct);
        if (Fatal) throw new NotRetriableException("the fake store refuses to work (a fatal error)");
        if (Failing) throw new InvalidOperationException("the fake store is down");
        PutSizes.Enqueue(records.Count);
        var errant = new List<ErrantRecord>();
        var stops = new Dictionary<TopicPartition, long>();
        foreach (var r in records)
        {
            if (StopAt.TryGetValue(r.TopicPartition.Partition.Value, out var stopAt) && r.Offset >= stopAt)
            {
                stops.TryAdd(r.TopicPartition, r.Offset);
                _stoppedAt.TryAdd(r.TopicPartition, r.Offset);
                continue;
            }
            if (Refuse(r))
            {
                errant.Add(new ErrantRecord(r.Message, new InvalidRecordException($"the fake store refuses id {r.Id}"), "fake-refused"));
                continue;
            }
            store.Stored.AddOrUpdate((r.TopicPartition.Partition.Value, r.Offset), 1, (_, n) => n + 1);
            if (store.KeepRecords) store.Records[(r.TopicPartition.Partition.Value, r.Offset)] = r;
            if (Holding) _unflushedFrom.TryAdd(r.TopicPartition, r.Offset);
        }
        if (stops.Count > 0) _context!.StopPartitions(stops);
        return errant;
    }

    public Task<IReadOnlyDictionary<TopicPartition, long>> PreCommitAsync(IReadOnlyDictionary<TopicPartition, long> putOffsets, bool force, CancellationToken ct)
    {
        Interlocked.Increment(ref PreCommits);
        if (!Holding || force) _unflushedFrom.Clear();
        return Task.FromResult<IReadOnlyDictionary<TopicPartition, long>>(putOffsets.ToDictionary(kv => kv.Key,
            kv => Math.Min(_unflushedFrom.TryGetValue(kv.Key, out var from) ? Math.Min(from, kv.Value) : kv.Value,
                _stoppedAt.TryGetValue(kv.Key, out var stop) ? stop : long.MaxValue)));
    }

    public void Close(IReadOnlyCollection<TopicPartition> partitions)
    {
        Closed.Enqueue([.. partitions.Select(p => p.Partition.Value)]);
        foreach (var p in partitions)
        {
            _unflushedFrom.TryRemove(p, out _);
            _stoppedAt.TryRemove(p, out _);
        }
    }

    public DateTimeOffset? NextFlushAt => !_unflushedFrom.IsEmpty && !Holding ? DateTimeOffset.MinValue : null;

    public void Describe(Activity span, TopicPartition partition, long offset) => span.SetTag("fake.store", "dictionary");

    /// <summary>A host running the sink runtime with a fake task on <paramref name="kit"/>'s Kafka, as a sink service would.</summary>
    public static IHost Host(SinkTestKit kit, FakeStore store, IDictionary<string, string?>? settings = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:kafka"] = kit.Bootstrap,
            ["Protection:Key"] = KafkaPipeline.Tests.TestProtection.Key,
            ["FakeSink:SummaryInterval"] = "00:00:01",
            ["FakeSink:RetryBackoffMax"] = "00:00:00.500",
            ["FakeSink:ConsumerOverrides:session.timeout.ms"] = "6000",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:KafkaPipeline"] = "Information",
        });
        if (settings is not null) builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.AddProvider(kit.Logs);
        builder.Services.AddSingleton(store);
        builder.AddKafkaClients();
        builder.AddSink<FakeSinkTask, FakeSinkOptions>("FakeSink");
        return builder.Build();
    }
}
