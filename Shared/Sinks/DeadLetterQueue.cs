using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace KafkaPipeline.Shared.Sinks;

/// <summary>
/// Sends the records a sink cannot store to the dead-letter topic of their topic, with the error and origin in headers, and waits for
/// the acknowledgements: only then may the sink commit past them. Private data never lands there in clear: a JSON
/// value has its protected fields hashed (<see cref="FieldProtector"/>); a value that is not JSON, so could hold them
/// anywhere, is sealed (AES-256-GCM under Protection:Key; <see cref="FieldProtector.Unseal"/> reads it back). A dead
/// letter keeps the original's key, timestamp and headers. The original stays at its topic, partition and offset
/// (headers) for as long as Kafka keeps it.
/// </summary>
public sealed class DeadLetterQueue : IDisposable
{
    /// <summary>Retries of each failed send (only the failed ones); then the sink stops rather than skip a record untraced.</summary>
    public const int Retries = 3;

    private readonly IProducer<byte[]?, byte[]?> _producer;
    private readonly FieldProtector _protector;
    private readonly string _service;
    private readonly ILogger _logger;
    private readonly IReadOnlyDictionary<string, string> _topics;

    /// <param name="topics">Each topic the sink reads and its dead-letter topic.</param>
    public DeadLetterQueue(KafkaClients kafka, IReadOnlyDictionary<string, string> topics, string service, FieldProtector protector, ILogger logger)
    {
        // A send that cannot be delivered must fail (and be retried here, a bounded number of times), not wait forever.
        _producer = kafka.Producer<byte[]?, byte[]?>(service + "-dlq", config => config.MessageTimeoutMs = 30_000).Build();
        _topics = topics;
        _service = service;
        _protector = protector;
        _logger = logger;
    }

    /// <summary>Where the dead letters of <paramref name="topic"/> go.</summary>
    public string TopicOf(string topic) => _topics.TryGetValue(topic, out var dlq) ? dlq : TopicNames.DeadLetter(topic);

    /// <summary>
    /// Sends every record, each retried on its own (a failed send is repeated, the acknowledged ones are not). Throws
    /// <see cref="NotRetriableException"/> when a record still cannot be sent after <see cref="Retries"/> retries.
    /// </summary>
    /// <param name="stopRetrying">Calls off the retries (a revocation); <paramref name="abort"/> cuts a send in progress.</param>
    public async Task SendAllAsync(IReadOnlyList<ErrantRecord> records, TimeSpan maxDelay, CancellationToken stopRetrying, CancellationToken abort)
    {
        foreach (var r in records)
        {
            _logger.LogWarning("Dead-lettering {Topic}/{Partition}@{Offset} to {Dlq} ({Stage}): {Error}",
                r.Message.Topic, r.Message.Partition.Value, r.Message.Offset.Value, TopicOf(r.Message.Topic), r.Stage, r.Error.Message);
            PipelineTelemetry.Errors.Add(1, new("service", _service), new("stage", r.Stage));
        }
        try
        {
            await Task.WhenAll(records.Select(r => Backoff.BoundedAsync($"the dead-letter topic {TopicOf(r.Message.Topic)}",
                $"sending {r.Message.Topic}/{r.Message.Partition.Value}@{r.Message.Offset.Value}",
                _ => SendAsync(r, abort), Retries, maxDelay, _logger, stopRetrying)));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var topics = string.Join(", ", records.Select(r => TopicOf(r.Message.Topic)).Distinct());
            throw new NotRetriableException(
                $"a record could not be written to the dead-letter topic {topics} after {Retries + 1} attempts ({e.Message}); " +
                "stopping without committing past it, so it is read again at the next start", e);
        }
    }

    private async Task<bool> SendAsync(ErrantRecord record, CancellationToken ct)
    {
        var source = record.Message;
        var headers = new Headers();
        foreach (var h in source.Message.Headers ?? []) headers.Add(h.Key, h.GetValueBytes()); // null values stay null
        var (value, form) = PrepareValue(_protector, source.Message.Value);
        PipelineHeaders.SetString(headers, PipelineHeaders.DlqError, record.Error.Message);
        PipelineHeaders.SetString(headers, PipelineHeaders.DlqErrorType, record.Error.GetType().Name);
        PipelineHeaders.SetString(headers, PipelineHeaders.DlqStage, record.Stage);
        PipelineHeaders.SetString(headers, PipelineHeaders.DlqService, _service);
        PipelineHeaders.SetString(headers, PipelineHeaders.DlqTopic, source.Topic);
        PipelineHeaders.SetString(headers, PipelineHeaders.DlqPartition, source.Partition.Value.ToString(CultureInfo.InvariantCulture));
        PipelineHeaders.SetString(headers, PipelineHeaders.DlqOffset, source.Offset.Value.ToString(CultureInfo.InvariantCulture));
        // The original's timestamp, so the DLQ says when the record was produced, not when it failed. A producer may
        // only send a create time: a broker's append time (message.timestamp.type=LogAppendTime) is sent as one.
        var timestamp = source.Message.Timestamp.Type == TimestampType.NotAvailable ? Timestamp.Default
            : new Timestamp(source.Message.Timestamp.UnixTimestampMs, TimestampType.CreateTime);
        Task Send(byte[]? dlqValue, string dlqForm)
        {
            PipelineHeaders.SetString(headers, PipelineHeaders.DlqValueForm, dlqForm);
            return _producer.ProduceAsync(TopicOf(source.Topic), new Message<byte[]?, byte[]?> { Key = source.Message.Key, Value = dlqValue, Headers = headers, Timestamp = timestamp }, ct);
        }
        try
        {
            await Send(value, form);
        }
        catch (ProduceException<byte[]?, byte[]?> e) when (e.Error.Code == ErrorCode.MsgSizeTooLarge)
        {
            // A record near the size limit can have a dead letter beyond it (sealing and the dlq headers add bytes); no
            // retry makes it fit. It goes without its value, which stays at the topic, partition and offset the headers name.
            _logger.LogWarning("The dead letter of {Topic}/{Partition}@{Offset} is too large for {Dlq}: sent without its value",
                source.Topic, source.Partition.Value, source.Offset.Value, TopicOf(source.Topic));
            await Send(null, "omitted-too-large");
        }
        PipelineTelemetry.DeadLettered.Add(1, new KeyValuePair<string, object?>("stage", record.Stage));
        return true;
    }

    /// <summary>
    /// The value the dead-letter topic gets, and its form (header <see cref="PipelineHeaders.DlqValueForm"/>): "as-received"
    /// when it holds no protected field (or is null or empty), "fields-protected" when its protected fields were hashed,
    /// "sealed" when it is not one JSON object whose fields can be located.
    /// </summary>
    public static (byte[]? Value, string Form) PrepareValue(FieldProtector protector, byte[]? value)
    {
        if (value is null || value.Length == 0) return (value, "as-received");
        if (!protector.TryProtect(value, out var protectedValue)) return (protector.Seal(value), "sealed");
        return ReferenceEquals(protectedValue, value) ? (value, "as-received") : (protectedValue, "fields-protected");
    }

    public void Dispose()
    {
        _producer.Flush(TimeSpan.FromSeconds(5));
        _producer.Dispose();
    }
}
