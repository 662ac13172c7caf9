using System.Globalization;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.EmbeddedKafka;
using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.Shared;
using Microsoft.Extensions.Hosting;

namespace KafkaPipeline.IntegrationTests.Sinks;

/// <summary>
/// What every sink test needs around its sink: an embedded Kafka with P_USERS (4 partitions) and P_USERS.dlq, a
/// producer keyed like the source (murmur2 of the id), the group's committed offsets, the dead-letter topic, the
/// services' log lines, and the hosts it started (stopped and disposed at the end).
/// </summary>
internal sealed class SinkTestKit : IAsyncDisposable
{
    public const string Topic = "P_USERS";
    public const string DeadLetterTopic = "P_USERS.dlq";
    public const int Partitions = 4;
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    private readonly List<IHost> _hosts = [];

    public SinkTestKit(int brokers = 1)
    {
        Kafka = EmbeddedKafkaCluster.Start(brokers);
        Kafka.CreateTopic(Topic, Partitions);
        Kafka.CreateTopic(DeadLetterTopic, 1);
        Producer = new ProducerBuilder<byte[]?, byte[]?>(KafkaSettings.Producer(Kafka.BootstrapServers, "sink-test")).SetLogHandler((_, _) => { }).Build();
    }

    public EmbeddedKafkaCluster Kafka { get; }
    public string Bootstrap => Kafka.BootstrapServers;
    public IProducer<byte[]?, byte[]?> Producer { get; }
    public LogCapture Logs { get; } = new();

    public static byte[] Key(long id) => Encoding.UTF8.GetBytes(id.ToString(CultureInfo.InvariantCulture));

    /// <summary>Produces (key, value, headers) to partition murmur2(key) % 4, waits for every ack, returns the reports in order.</summary>
    public List<DeliveryReport<byte[]?, byte[]?>> Produce(IEnumerable<(byte[] Key, byte[]? Value, Headers? Headers)> messages, string topic = Topic)
    {
        var reports = new List<DeliveryReport<byte[]?, byte[]?>>();
        foreach (var (key, value, headers) in messages)
        {
            var partition = Murmur2Partitioner.Partition(key, Partitions);
            while (true)
            {
                try
                {
                    Producer.Produce(new TopicPartition(topic, partition), new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = headers },
                        r => { lock (reports) reports.Add(r); });
                    break;
                }
                catch (ProduceException<byte[]?, byte[]?> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                {
                    Producer.Poll(TimeSpan.FromMilliseconds(20));
                }
            }
        }
        Producer.Flush(Patience);
        lock (reports)
        {
            Assert.DoesNotContain(reports, r => r.Error.IsError);
            return [.. reports.OrderBy(r => r.Partition.Value).ThenBy(r => r.Offset.Value)];
        }
    }

    public List<DeliveryReport<byte[]?, byte[]?>> Produce(IEnumerable<(long Id, byte[]? Value)> messages) =>
        Produce(messages.Select(m => (Key(m.Id), m.Value, (Headers?)null)));

    public List<DeliveryReport<byte[]?, byte[]?>> ProduceUsers(IEnumerable<UserRecord> users, Func<UserRecord, Headers?>? headers = null) =>
        Produce(users.Select(u => (Key(u.Id), (byte[]?)UsersEvents.Value(u), headers?.Invoke(u))));

    /// <summary>Change-event headers as the CDC source writes them.</summary>
    public static Headers Change(string op, ulong commitLsn, ulong changeLsn, DateTime commitTime)
    {
        var headers = new Headers();
        ChangeHeaders.Write(headers, op, new SourceVersion(commitLsn, changeLsn), commitTime);
        return headers;
    }

    /// <summary>The group's committed offsets per partition (0 when none), read without joining the group.</summary>
    public Dictionary<int, long> Committed(string groupId, string topic = Topic)
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Bootstrap, GroupId = groupId, EnableAutoCommit = false })
            .SetLogHandler((_, _) => { }).Build();
        return consumer.Committed(Enumerable.Range(0, Partitions).Select(p => new TopicPartition(topic, p)), TimeSpan.FromSeconds(10))
            .ToDictionary(o => o.Partition.Value, o => o.Offset.Value < 0 ? 0 : o.Offset.Value);
    }

    public async Task<Dictionary<int, long>> HighWatermarksAsync(string topic = Topic) =>
        (await EmbeddedKafkaCluster.GetWatermarksAsync(Bootstrap, topic)).ToDictionary(w => w.Partition, w => w.High);

    /// <summary>Waits until the group's committed offsets reach the end of every partition: everything consumed is accounted for.</summary>
    public async Task WaitForCommittedToEndAsync(string groupId, string topic = Topic)
    {
        var high = await HighWatermarksAsync(topic);
        Dictionary<int, long> committed = [];
        await WaitUntilAsync(() =>
        {
            committed = Committed(groupId, topic);
            return high.All(h => committed.GetValueOrDefault(h.Key) == h.Value);
        }, () => $"committed {string.Join(",", committed.OrderBy(c => c.Key))} to reach {string.Join(",", high.OrderBy(h => h.Key))}");
    }

    /// <summary>Every message of the dead-letter topic; reads on briefly after <paramref name="expected"/> (more would be a defect).</summary>
    public List<ConsumeResult<byte[]?, byte[]?>> ReadDeadLetters(int expected, string deadLetterTopic = DeadLetterTopic)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = Bootstrap,
            GroupId = "dlq-reader-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Assign(new TopicPartitionOffset(deadLetterTopic, 0, Offset.Beginning));
        var result = new List<ConsumeResult<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow + Patience;
        while (result.Count < expected && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(500)) is { IsPartitionEOF: false } r) result.Add(r);
        }
        while (consumer.Consume(TimeSpan.FromSeconds(1)) is { IsPartitionEOF: false } extra) result.Add(extra);
        return result;
    }

    /// <summary>
    /// The dead letters by key, each checked against the message it came from (found by key in <paramref name="reports"/>):
    /// its origin headers and the service that sent it.
    /// </summary>
    public static Dictionary<string, ConsumeResult<byte[]?, byte[]?>> DeadLettersByKey(
        List<ConsumeResult<byte[]?, byte[]?>> dead, List<DeliveryReport<byte[]?, byte[]?>> reports, string service)
    {
        var byKey = dead.ToDictionary(d => Encoding.UTF8.GetString(d.Message.Key!));
        foreach (var (key, d) in byKey)
        {
            var original = reports.Single(r => Encoding.UTF8.GetString(r.Message.Key!) == key);
            Assert.Equal(Topic, Header(d, PipelineHeaders.DlqTopic));
            Assert.Equal($"{original.Partition.Value}", Header(d, PipelineHeaders.DlqPartition));
            Assert.Equal($"{original.Offset.Value}", Header(d, PipelineHeaders.DlqOffset));
            Assert.Equal(service, Header(d, PipelineHeaders.DlqService));
        }
        return byKey;
    }

    public static string Header(ConsumeResult<byte[]?, byte[]?> r, string key) =>
        PipelineHeaders.GetString(r.Message.Headers, key) ?? throw new Xunit.Sdk.XunitException($"header {key} missing");

    /// <summary>Starts a host (a sink app) and stops it when the kit is disposed.</summary>
    public async Task<T> StartAsync<T>(T host) where T : IHost
    {
        _hosts.Add(host);
        await host.StartAsync();
        return host;
    }

    /// <summary>Polls <paramref name="condition"/> until true; fails after <see cref="Patience"/> with what it waited for and the logs.</summary>
    public async Task WaitUntilAsync(Func<bool> condition, Func<string> what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"waited {Patience} for {what()}\n{Logs.Text}");
            await Task.Delay(100);
        }
    }

    public Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(condition, () => what);

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            try
            {
                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                await host.StopAsync(stop.Token);
            }
            catch (Exception)
            {
                // a failed start or stop must not hide the test's own result
            }
            if (host is IAsyncDisposable async) await async.DisposeAsync();
            else host.Dispose();
        }
        Producer.Dispose();
        Kafka.Dispose();
    }
}
