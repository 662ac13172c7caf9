using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using KafkaPipeline.Shared;

namespace KafkaPipeline.Dashboard;

/// <summary>
/// What the topic browser reads from Kafka, with the requests librdkafka's mock cluster answers: Metadata (brokers,
/// topics, partitions, leaders), ListOffsets (low and high watermarks), OffsetFetch for named groups and partitions
/// (committed offsets) and Fetch (messages). The mock answers neither ListGroups nor DescribeGroups ("not supported by
/// broker"), so the groups shown are the configured ones (<see cref="DashboardOptions.ConsumerGroups"/>).
/// Message values are shown with the protected fields replaced by their keyed hash, exactly as the lake stores them.
/// </summary>
public sealed class KafkaBrowser : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(5);
    private readonly KafkaClients _kafka;
    private readonly DashboardOptions _options;
    private readonly FieldProtector _protector;
    private readonly IAdminClient _admin;
    private readonly SemaphoreSlim _readers = new(2, 2); // message reads: a consumer each, two at a time at most

    public KafkaBrowser(KafkaClients kafka, DashboardOptions options, ProtectionOptions protection, ILogger<KafkaBrowser> logger)
    {
        _kafka = kafka;
        _options = options;
        _protector = new FieldProtector(protection);
        _admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = kafka.BootstrapServers, SocketTimeoutMs = 10_000 })
            .SetLogHandler((_, m) => logger.LogDebug("librdkafka {Facility}: {Message}", m.Facility, m.Message)).Build();
        if (protection.Fields.Length > 0 && protection.UsesDevelopmentKey)
            logger.LogWarning("Protection:Key is the local development default: set a secret of your own outside development");
    }

    public async Task<ClusterView> ClusterAsync(CancellationToken ct)
    {
        var (metadata, topics) = await UserTopicsAsync(ct);
        var marks = await WatermarksAsync(topics.SelectMany(t => t.Partitions.Select(p => new TopicPartition(t.Topic, p.PartitionId))), ct);
        return new ClusterView(
            [.. metadata.Brokers.OrderBy(b => b.BrokerId).Select(b => new BrokerView(b.BrokerId, b.Host, b.Port))],
            [.. topics.Select(t => new TopicView(t.Topic,
                [.. t.Partitions.OrderBy(p => p.PartitionId).Select(p =>
                {
                    var (low, high) = marks.GetValueOrDefault(new TopicPartition(t.Topic, p.PartitionId), (-1, -1));
                    return new PartitionView(p.PartitionId, p.Leader, p.Replicas.Length, low, high);
                })]))]);
    }

    /// <summary>Each configured group's committed offset and lag per partition, for the topics it has committed on.</summary>
    public async Task<IReadOnlyList<GroupView>> GroupsAsync(CancellationToken ct)
    {
        var (_, topics) = await UserTopicsAsync(ct);
        var partitions = topics.SelectMany(t => t.Partitions.Select(p => new TopicPartition(t.Topic, p.PartitionId))).ToList();
        var marks = await WatermarksAsync(partitions, ct);
        var groups = new List<GroupView>();
        foreach (var group in _options.GroupsShown)
        {
            try
            {
                // One group per request: librdkafka's ListConsumerGroupOffsets takes exactly one.
                var result = await _admin.ListConsumerGroupOffsetsAsync(
                    [new ConsumerGroupTopicPartitions(group, partitions)], new ListConsumerGroupOffsetsOptions { RequestTimeout = s_timeout });
                var committed = result.SelectMany(r => r.Partitions).Where(p => p.Offset.Value >= 0).ToList();
                var rows = committed.OrderBy(p => p.Topic, StringComparer.Ordinal).ThenBy(p => p.Partition.Value).Select(p =>
                {
                    var high = marks.GetValueOrDefault(p.TopicPartition, (-1, -1)).High;
                    return new GroupPartitionView(p.Topic, p.Partition.Value, p.Offset.Value, high, high < 0 ? null : Math.Max(0, high - p.Offset.Value));
                }).ToList();
                groups.Add(new GroupView(group, rows, rows.Sum(r => r.Lag ?? 0), null));
            }
            catch (KafkaException e)
            {
                groups.Add(new GroupView(group, [], 0, e.Error.Reason));
            }
        }
        return groups;
    }

    /// <summary>
    /// Up to <paramref name="limit"/> messages of one partition from <paramref name="offset"/> (clamped to the low
    /// watermark), stopping at the high watermark. Throws <see cref="ArgumentException"/> for a topic or partition
    /// that does not exist.
    /// </summary>
    public async Task<MessagesView> MessagesAsync(string topic, int partition, long offset, int limit, CancellationToken ct)
    {
        limit = Math.Clamp(limit, 1, _options.MaxMessages);
        var metadata = await Task.Run(() => _admin.GetMetadata(topic, s_timeout), ct);
        var t = metadata.Topics.FirstOrDefault(x => x.Topic == topic && x.Error.Code == ErrorCode.NoError);
        if (t is null) throw new ArgumentException($"topic '{topic}' does not exist");
        if (t.Partitions.All(p => p.PartitionId != partition))
            throw new ArgumentException($"topic '{topic}' has no partition {partition} (it has {t.Partitions.Count})");
        await _readers.WaitAsync(ct);
        try
        {
            return await Task.Run(() => Read(new TopicPartition(topic, partition), offset, limit, ct), ct);
        }
        finally
        {
            _readers.Release();
        }
    }

    private MessagesView Read(TopicPartition tp, long offset, int limit, CancellationToken ct)
    {
        // Never joined, never committed: the partition is assigned by hand.
        using var consumer = _kafka.Consumer<byte[]?, byte[]?>("topic-browser", "topic-browser", c =>
        {
            c.EnablePartitionEof = true;
            c.QueuedMaxMessagesKbytes = 1024;
        }).Build();
        var marks = consumer.QueryWatermarkOffsets(tp, s_timeout);
        var from = Math.Max(offset, marks.Low.Value);
        var messages = new List<MessageView>();
        if (from < marks.High.Value)
        {
            consumer.Assign(new TopicPartitionOffset(tp, from));
            var deadline = DateTime.UtcNow + s_timeout;
            while (messages.Count < limit && DateTime.UtcNow < deadline && !ct.IsCancellationRequested)
            {
                var r = consumer.Consume(TimeSpan.FromMilliseconds(200));
                if (r is null) continue;
                if (r.IsPartitionEOF) break;
                messages.Add(new MessageView(r.Offset.Value, r.Message.Timestamp.UtcDateTime, Text(r.Message.Key),
                    [.. (r.Message.Headers ?? []).Select(h => new HeaderView(h.Key, Text(h.GetValueBytes())))],
                    r.Message.Value is null ? null : Text(_protector.Protect(r.Message.Value))));
                if (r.Offset.Value + 1 >= marks.High.Value) break;
            }
        }
        return new MessagesView(tp.Topic, tp.Partition.Value, marks.Low.Value, marks.High.Value, from, messages);
    }

    /// <summary>The cluster's metadata and its topics but the internal ones (__consumer_offsets...), by name.</summary>
    private async Task<(Metadata Metadata, List<TopicMetadata> Topics)> UserTopicsAsync(CancellationToken ct)
    {
        var metadata = await Task.Run(() => _admin.GetMetadata(s_timeout), ct);
        return (metadata, metadata.Topics.Where(t => !t.Topic.StartsWith("__", StringComparison.Ordinal))
            .OrderBy(t => t.Topic, StringComparer.Ordinal).ToList());
    }

    private async Task<Dictionary<TopicPartition, (long Low, long High)>> WatermarksAsync(IEnumerable<TopicPartition> partitions, CancellationToken ct)
    {
        var list = partitions.ToList();
        var result = new Dictionary<TopicPartition, (long, long)>();
        if (list.Count == 0) return result;
        var options = new ListOffsetsOptions { RequestTimeout = s_timeout };
        var lowTask = _admin.ListOffsetsAsync(list.Select(tp => new TopicPartitionOffsetSpec { TopicPartition = tp, OffsetSpec = OffsetSpec.Earliest() }), options);
        var highTask = _admin.ListOffsetsAsync(list.Select(tp => new TopicPartitionOffsetSpec { TopicPartition = tp, OffsetSpec = OffsetSpec.Latest() }), options);
        var (low, high) = (await lowTask, await highTask);
        ct.ThrowIfCancellationRequested();
        var highs = high.ResultInfos.ToDictionary(r => r.TopicPartitionOffsetError.TopicPartition, r => r.TopicPartitionOffsetError.Offset.Value);
        foreach (var r in low.ResultInfos)
        {
            var tp = r.TopicPartitionOffsetError.TopicPartition;
            result[tp] = (r.TopicPartitionOffsetError.Offset.Value, highs.GetValueOrDefault(tp, -1));
        }
        return result;
    }

    private static readonly UTF8Encoding s_strictUtf8 = new(false, throwOnInvalidBytes: true);

    /// <summary>UTF-8 text when the bytes are valid UTF-8, else base64 marked as such.</summary>
    private static string? Text(byte[]? bytes)
    {
        if (bytes is null) return null;
        try
        {
            return s_strictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return "base64:" + Convert.ToBase64String(bytes);
        }
    }

    public void Dispose()
    {
        _admin.Dispose();
        _readers.Dispose();
    }
}

public sealed record ClusterView(IReadOnlyList<BrokerView> Brokers, IReadOnlyList<TopicView> Topics);
public sealed record BrokerView(int Id, string Host, int Port);
public sealed record TopicView(string Name, IReadOnlyList<PartitionView> Partitions);
public sealed record PartitionView(int Partition, int Leader, int Replicas, long Low, long High);
public sealed record GroupView(string Group, IReadOnlyList<GroupPartitionView> Partitions, long TotalLag, string? Error);
public sealed record GroupPartitionView(string Topic, int Partition, long Committed, long High, long? Lag);
public sealed record MessagesView(string Topic, int Partition, long Low, long High, long From, IReadOnlyList<MessageView> Messages);
public sealed record HeaderView(string Key, string? Value);
public sealed record MessageView(long Offset, DateTime Timestamp, string? Key, IReadOnlyList<HeaderView> Headers, string? Value);
