using Confluent.Kafka;
using KafkaPipeline.Shared;

namespace KafkaPipeline.Dashboard;

/// <summary>
/// What the topic browser reads from Kafka, with the requests librdkafka's mock cluster answers: Metadata (brokers,
/// topics, partitions, leaders), ListOffsets (low and high watermarks), OffsetFetch for named groups and partitions
/// (committed offsets) and Fetch (messages). The mock answers neither ListGroups nor DescribeGroups ("not supported by
/// broker"), so the groups shown are the configured ones (<see cref="DashboardOptions.ConsumerGroups"/>).
/// Only the pipeline's topics are shown, each table's and its dead-letter topic (<see cref="DashboardOptions.BrowsableTopics"/>):
/// no other topic of the cluster, internal ones included. Messages are shown as <see cref="MessageDisplay"/> says:
/// protected fields hashed as in the lake, the personal fields of the topic's table masked, every text and the whole
/// response bounded in bytes.
/// </summary>
public sealed class KafkaBrowser : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(5);
    private readonly KafkaClients _kafka;
    private readonly DashboardOptions _options;
    private readonly Dictionary<string, MessageDisplay> _displays; // by topic: the pipeline's topics, nothing else
    private readonly IAdminClient _admin;
    private readonly SemaphoreSlim _readers = new(2, 2); // message reads: a consumer each, two at a time at most

    public KafkaBrowser(KafkaClients kafka, DashboardOptions options, PipelineOptions pipeline, ProtectionOptions protection, ILogger<KafkaBrowser> logger)
    {
        _kafka = kafka;
        _options = options;
        var protector = new FieldProtector(protection);
        _displays = options.BrowsableTopics(pipeline).ToDictionary(t => t.Key, t => new MessageDisplay(options, protector, t.Value), StringComparer.Ordinal);
        _admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = kafka.BootstrapServers, SocketTimeoutMs = 10_000 })
            .SetLogHandler((_, m) => logger.LogDebug("librdkafka {Facility}: {Message}", m.Facility, m.Message)).Build();
        if (options.RevealPersonalData)
            logger.LogWarning("Dashboard:RevealPersonalData is on: the topic browser shows personal fields in clear to everyone logged in");
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
                var committed = await KafkaOffsets.CommittedAsync(_admin, group, partitions, s_timeout);
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
    /// watermark), stopping at the high watermark or when the response reaches <see cref="DashboardOptions.MaxResponseBytes"/>.
    /// Throws <see cref="ArgumentException"/> for a topic that is not the pipeline's, or a topic or partition that does
    /// not exist.
    /// </summary>
    public async Task<MessagesView> MessagesAsync(string topic, int partition, long offset, int limit, CancellationToken ct)
    {
        limit = Math.Clamp(limit, 1, _options.MaxMessages);
        if (!_displays.TryGetValue(topic, out var display))
            throw new ArgumentException($"the topic browser shows only the pipeline's topics ({string.Join(", ", _displays.Keys.Order(StringComparer.Ordinal))})");
        var metadata = await Task.Run(() => _admin.GetMetadata(topic, s_timeout), ct);
        var t = metadata.Topics.FirstOrDefault(x => x.Topic == topic && x.Error.Code == ErrorCode.NoError);
        if (t is null) throw new ArgumentException($"topic '{topic}' does not exist");
        if (t.Partitions.All(p => p.PartitionId != partition))
            throw new ArgumentException($"topic '{topic}' has no partition {partition} (it has {t.Partitions.Count})");
        await _readers.WaitAsync(ct);
        try
        {
            return await Task.Run(() => Read(new TopicPartition(topic, partition), offset, limit, display, ct), ct);
        }
        finally
        {
            _readers.Release();
        }
    }

    private MessagesView Read(TopicPartition tp, long offset, int limit, MessageDisplay display, CancellationToken ct)
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
        long bytes = 0;
        var cut = false;
        if (from < marks.High.Value)
        {
            consumer.Assign(new TopicPartitionOffset(tp, from));
            var deadline = DateTime.UtcNow + s_timeout;
            while (messages.Count < limit && DateTime.UtcNow < deadline && !ct.IsCancellationRequested)
            {
                var r = consumer.Consume(TimeSpan.FromMilliseconds(200));
                if (r is null) continue;
                if (r.IsPartitionEOF) break;
                var shown = display.Show(r.Message, r.Offset.Value);
                bytes += MessageDisplay.Size(shown);
                if (messages.Count > 0 && bytes > _options.MaxResponseBytes)
                {
                    cut = true;
                    break;
                }
                messages.Add(shown);
                if (r.Offset.Value + 1 >= marks.High.Value) break;
            }
        }
        return new MessagesView(tp.Topic, tp.Partition.Value, marks.Low.Value, marks.High.Value, from, messages, cut);
    }

    /// <summary>The cluster's metadata and the pipeline's topics in it, by name.</summary>
    private async Task<(Metadata Metadata, List<TopicMetadata> Topics)> UserTopicsAsync(CancellationToken ct)
    {
        var metadata = await Task.Run(() => _admin.GetMetadata(s_timeout), ct);
        return (metadata, metadata.Topics.Where(t => _displays.ContainsKey(t.Topic))
            .OrderBy(t => t.Topic, StringComparer.Ordinal).ToList());
    }

    private async Task<Dictionary<TopicPartition, (long Low, long High)>> WatermarksAsync(IEnumerable<TopicPartition> partitions, CancellationToken ct)
    {
        var marks = await KafkaOffsets.WatermarksAsync(_admin, partitions, s_timeout);
        ct.ThrowIfCancellationRequested();
        return marks;
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
/// <param name="Cut">True when the response stopped before the limit to stay within Dashboard:MaxResponseBytes.</param>
public sealed record MessagesView(string Topic, int Partition, long Low, long High, long From, IReadOnlyList<MessageView> Messages, bool Cut);
public sealed record HeaderView(string Key, string? Value);

/// <param name="ValueBytes">The value's size in the topic.</param>
/// <param name="Note">Why the value is not shown whole (hidden, cut), if it is not.</param>
public sealed record MessageView(long Offset, DateTime Timestamp, string? Key, IReadOnlyList<HeaderView> Headers, string? Value, long ValueBytes, string? Note);
