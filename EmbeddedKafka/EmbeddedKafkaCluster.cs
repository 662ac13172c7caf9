using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace KafkaPipeline.EmbeddedKafka;

/// <summary>
/// An in-memory Kafka-protocol cluster: librdkafka's mock cluster (rdkafka_mock.h), owned by a producer handle
/// of this process. Its brokers listen on 127.0.0.1 TCP ports, so any Kafka client (Confluent.Kafka, kcat) in
/// any process can use <see cref="BootstrapServers"/>. Nothing is persisted: the data dies with the object.
/// Broker ids are 1..N. All methods are thread-safe (librdkafka queues them to the mock cluster's thread).
/// </summary>
public sealed class EmbeddedKafkaCluster : IDisposable
{
    private readonly Lock _gate = new();
    private readonly HashSet<string> _unlimitedTopics = new(StringComparer.Ordinal);
    private IntPtr _rk;
    private IntPtr _mcluster;

    // The librdkafka version whose struct layout the retention lift assumes (the loaded one, except in tests).
    private readonly int _layoutVersion;

    private EmbeddedKafkaCluster(IntPtr rk, IntPtr mcluster, int brokerCount, string bootstrapServers, int layoutVersion)
    {
        _rk = rk;
        _mcluster = mcluster;
        BrokerCount = brokerCount;
        BootstrapServers = bootstrapServers;
        _layoutVersion = layoutVersion;
    }

    /// <summary>Comma-separated "127.0.0.1:port" list of all brokers.</summary>
    public string BootstrapServers { get; }

    public int BrokerCount { get; }

    /// <summary>The librdkafka version in use, e.g. "2.16.0".</summary>
    public static string LibrdkafkaVersion
    {
        get
        {
            Native.EnsureLoaded();
            return RetentionLimit.FormatVersion(Native.Version());
        }
    }

    public static EmbeddedKafkaCluster Start(int brokers = 1) => Start(brokers, layoutVersion: null);

    /// <param name="layoutVersion">Tests only: pretend another librdkafka version for the retention lift.</param>
    internal static EmbeddedKafkaCluster Start(int brokers, int? layoutVersion)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(brokers, 1);
        Native.EnsureLoaded();

        var errstr = new byte[512];
        var conf = Native.ConfNew();
        // The owning handle never talks to a broker; keep its own log quiet apart from real errors.
        if (Native.ConfSet(conf, "log_level", "3", errstr, (nuint)errstr.Length) != Native.ConfOk)
        {
            Native.ConfDestroy(conf);
            throw new InvalidOperationException($"rd_kafka_conf_set failed: {Native.CString(errstr)}");
        }
        var rk = Native.New(Native.ProducerType, conf, errstr, (nuint)errstr.Length);
        if (rk == IntPtr.Zero)
        {
            Native.ConfDestroy(conf); // rd_kafka_new only takes ownership of conf on success
            throw new InvalidOperationException($"rd_kafka_new failed: {Native.CString(errstr)}");
        }
        var mcluster = Native.MockClusterNew(rk, brokers);
        if (mcluster == IntPtr.Zero)
        {
            Native.Destroy(rk);
            throw new InvalidOperationException($"rd_kafka_mock_cluster_new({brokers}) failed");
        }
        // A new consumer group forms at once instead of after the mock's default 3 s wait for more members.
        Native.MockGroupInitialRebalanceDelayMs(mcluster, 0);
        var bootstraps = Marshal.PtrToStringUTF8(Native.MockClusterBootstraps(mcluster)) ?? "";
        return new EmbeddedKafkaCluster(rk, mcluster, brokers, bootstraps, layoutVersion ?? Native.Version());
    }

    /// <summary>
    /// Creates a topic (replication factor is capped by the broker count by the mock) that keeps every message: the
    /// mock's 5 MiB per-partition retention is lifted, and when that cannot be done this throws (never a topic that
    /// silently drops its oldest messages).
    /// </summary>
    public void CreateTopic(string name, int partitions, int replicationFactor = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicationFactor, 1);
        Check(Native.MockTopicCreate(Handle(), name, partitions, replicationFactor), $"create topic {name}");
        KeepAllMessages(name);
    }

    /// <summary>
    /// Lifts the mock's retention limit (5 MiB / 100,000 batches per partition, oldest dropped) for an existing
    /// topic, e.g. one that a producer auto-created. Throws, naming the reason, when it cannot.
    /// </summary>
    public void KeepAllMessages(string topic)
    {
        lock (_gate)
        {
            if (_unlimitedTopics.Contains(topic))
                return;
            if (RetentionLimit.TryLift(_rk, Handle(), BrokerCount, topic, _layoutVersion) is { } why)
                throw new InvalidOperationException(
                    $"Embedded Kafka: cannot lift the mock's 5 MiB per-partition retention for topic {topic}: {why}. " +
                    "It would silently drop the oldest messages; refusing to go on.");
            _unlimitedTopics.Add(topic);
        }
    }

    /// <summary>True when the topic keeps every message; false means the oldest are dropped beyond 5 MiB a partition.</summary>
    public bool KeepsAllMessages(string topic)
    {
        lock (_gate)
            return _unlimitedTopics.Contains(topic);
    }

    /// <summary>Closes the broker's listener and connections; clients see it as unreachable until set up again.</summary>
    public void SetBrokerDown(int brokerId) =>
        Check(Native.MockBrokerSetDown(Handle(), brokerId), $"set broker {brokerId} down");

    public void SetBrokerUp(int brokerId) =>
        Check(Native.MockBrokerSetUp(Handle(), brokerId), $"set broker {brokerId} up");

    /// <summary>Delays every response of the broker by <paramref name="roundTripTime"/> (zero to clear).</summary>
    public void SetRoundTripTime(int brokerId, TimeSpan roundTripTime) =>
        Check(Native.MockBrokerSetRtt(Handle(), brokerId, checked((int)roundTripTime.TotalMilliseconds)),
            $"set broker {brokerId} round-trip time");

    public void SetPartitionLeader(string topic, int partition, int brokerId) =>
        Check(Native.MockPartitionSetLeader(Handle(), topic, partition, brokerId),
            $"set leader of {topic} [{partition}] to broker {brokerId}");

    /// <summary>
    /// The next requests of this API (on any broker), one per error code in order, fail with these errors
    /// (Kafka protocol codes, see <see cref="KafkaErrorCode"/>; 0 lets a request through).
    /// </summary>
    public void PushRequestErrors(short apiKey, params int[] errorCodes)
    {
        ArgumentNullException.ThrowIfNull(errorCodes);
        if (errorCodes.Length > 0)
            Native.MockPushRequestErrorsArray(Handle(), apiKey, (nuint)errorCodes.Length, errorCodes);
    }

    public void PushRequestErrors(KafkaApiKey apiKey, params int[] errorCodes) => PushRequestErrors((short)apiKey, errorCodes);

    public void ClearRequestErrors(short apiKey) => Native.MockClearRequestErrors(Handle(), apiKey);

    public void ClearRequestErrors(KafkaApiKey apiKey) => ClearRequestErrors((short)apiKey);

    public void Dispose()
    {
        lock (_gate)
        {
            if (_rk == IntPtr.Zero)
                return;
            Native.MockClusterDestroy(_mcluster);
            Native.Destroy(_rk);
            _mcluster = IntPtr.Zero;
            _rk = IntPtr.Zero;
        }
    }

    /// <summary>Messages in a topic now: the sum over partitions of high minus low watermark (0 if no such topic).</summary>
    public static async Task<long> CountMessagesAsync(string bootstrap, string topic, CancellationToken cancellationToken = default)
    {
        var marks = await GetWatermarksAsync(bootstrap, topic, cancellationToken).ConfigureAwait(false);
        return marks.Sum(m => m.High - m.Low);
    }

    /// <summary>Low and high watermark of every partition of a topic, in partition order (empty if no such topic).</summary>
    public static Task<IReadOnlyList<PartitionWatermark>> GetWatermarksAsync(
        string bootstrap, string topic, CancellationToken cancellationToken = default) =>
        Task.Run<IReadOnlyList<PartitionWatermark>>(() =>
        {
            var timeout = TimeSpan.FromSeconds(10);
            // Metadata of all topics: asking for one topic by name would auto-create it on the mock.
            using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap })
                .SetLogHandler((_, _) => { })
                .Build();
            var meta = admin.GetMetadata(timeout).Topics.FirstOrDefault(t => t.Topic == topic);
            if (meta is null || meta.Error.IsError)
                return [];

            using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
            {
                BootstrapServers = bootstrap,
                GroupId = "embedded-kafka-watermarks", // required by the client, never joined
                EnableAutoCommit = false,
            }).SetLogHandler((_, _) => { }).Build();
            var marks = new List<PartitionWatermark>();
            foreach (var p in meta.Partitions.OrderBy(p => p.PartitionId))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var w = consumer.QueryWatermarkOffsets(new TopicPartition(topic, p.PartitionId), timeout);
                marks.Add(new PartitionWatermark(p.PartitionId, w.Low.Value, w.High.Value));
            }
            return marks;
        }, cancellationToken);

    private IntPtr Handle()
    {
        var mc = _mcluster;
        ObjectDisposedException.ThrowIf(mc == IntPtr.Zero, this);
        return mc;
    }

    private static void Check(int err, string what)
    {
        if (err != 0)
            throw new InvalidOperationException($"Embedded Kafka: {what} failed: {Native.ErrorText(err)} ({err})");
    }
}

public readonly record struct PartitionWatermark(int Partition, long Low, long High);
