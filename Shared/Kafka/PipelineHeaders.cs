using System.Text;
using Confluent.Kafka;

namespace KafkaPipeline.Shared;

/// <summary>Message headers the pipeline writes and reads.</summary>
public static class PipelineHeaders
{
    public const string TraceParent = "traceparent";
    public const string TraceState = "tracestate";
    public const string DlqError = "dlq.error.message";
    public const string DlqErrorType = "dlq.error.type";
    public const string DlqStage = "dlq.stage";
    public const string DlqService = "dlq.service";
    public const string DlqTopic = "dlq.original.topic";
    public const string DlqPartition = "dlq.original.partition";
    public const string DlqOffset = "dlq.original.offset";
    /// <summary>How the dead-lettered value is stored: as-received, fields-protected (private fields hashed) or sealed.</summary>
    public const string DlqValueForm = "dlq.value.form";

    /// <summary>The last header of that name as text; null when absent or when its value is null (a stranger's producer may send that).</summary>
    public static string? GetString(Headers? headers, string key) =>
        headers is not null && headers.TryGetLastBytes(key, out var bytes) && bytes is not null ? Encoding.UTF8.GetString(bytes) : null;

    public static void SetString(Headers headers, string key, string value)
    {
        headers.Remove(key);
        headers.Add(key, Encoding.UTF8.GetBytes(value));
    }
}
