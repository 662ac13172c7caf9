using System.Diagnostics;
using System.Diagnostics.Metrics;
using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace KafkaPipeline.Shared;

/// <summary>
/// Traces and metrics of the pipeline ("KafkaPipeline"); <see cref="AddPipelineTelemetry"/> registers them with the
/// OpenTelemetry SDK that ServiceDefaults sets up (exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set).
/// </summary>
public static class PipelineTelemetry
{
    public const string Name = "KafkaPipeline";

    /// <summary>
    /// Subscribes the SDK to the pipeline's meter, and to its activity source only when spans can be exported: the
    /// services create one span per record, which costs CPU and memory for nothing when no collector listens.
    /// </summary>
    public static IHostApplicationBuilder AddPipelineTelemetry(this IHostApplicationBuilder builder)
    {
        var otel = builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(Name));
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
            otel.WithTracing(t => t.AddSource(Name));
        builder.Services.AddPipelineHealth(); // every pipeline service reports its own conditions on /health
        return builder;
    }

    public static readonly ActivitySource Source = new(Name);
    public static readonly Meter Meter = new(Name);

    public static readonly Counter<long> RecordsIn = Meter.CreateCounter<long>("kafkapipeline.records.in", "{record}", "Records read by a service (rows or messages)");
    public static readonly Counter<long> RecordsOut = Meter.CreateCounter<long>("kafkapipeline.records.out", "{record}", "Records written by a service (messages, rows, object lines)");
    public static readonly Histogram<long> BatchSize = Meter.CreateHistogram<long>("kafkapipeline.batch.size", "{record}", "Records per written batch");
    public static readonly Counter<long> Errors = Meter.CreateCounter<long>("kafkapipeline.errors", "{error}", "Failures that were retried or dead-lettered");
    public static readonly Counter<long> DeadLettered = Meter.CreateCounter<long>("kafkapipeline.dlq.records", "{record}", "Records sent to the dead-letter topic");
    public static readonly Histogram<double> EndToEndLatency = Meter.CreateHistogram<double>("kafkapipeline.e2e.latency", "ms", "PostgreSQL commit (source.commit_ts header, else the record's Kafka timestamp) to the sink's durable write");
    public static readonly Counter<long> PartitionsStopped = Meter.CreateCounter<long>("kafkapipeline.sink.partitions.stopped", "{partition}", "Partitions a sink stopped for an error an operator must resolve (a resume offset beyond the partition's end, a schema change the target cannot take)");

    /// <summary>Consumer lag per service, updated by the sinks and observed by the metrics reader.</summary>
    public static void ReportLag(string service, long lag) => s_lag[service] = lag;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> s_lag = new();
    private static readonly ObservableGauge<long> s_lagGauge = Meter.CreateObservableGauge(
        "kafkapipeline.consumer.lag", () => s_lag.Select(kv => new Measurement<long>(kv.Value, new KeyValuePair<string, object?>("service", kv.Key))),
        "{record}", "Messages between the sink's position and the end of its partitions");

    /// <summary>Reads the W3C trace context a record carries (Kafka header), or default.</summary>
    public static ActivityContext Extract(Headers? headers)
    {
        var traceParent = PipelineHeaders.GetString(headers, PipelineHeaders.TraceParent);
        return ParseTraceParent(traceParent, PipelineHeaders.GetString(headers, PipelineHeaders.TraceState));
    }

    public static ActivityContext ParseTraceParent(string? traceParent, string? traceState = null) =>
        traceParent is not null && ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var ctx) ? ctx : default;

    /// <summary>Writes the activity's W3C trace context into Kafka headers.</summary>
    public static void Inject(Activity? activity, Headers headers)
    {
        if (activity?.Id is { } id && activity.IdFormat == ActivityIdFormat.W3C)
        {
            PipelineHeaders.SetString(headers, PipelineHeaders.TraceParent, id);
            if (activity.TraceStateString is { } state) PipelineHeaders.SetString(headers, PipelineHeaders.TraceState, state);
        }
    }

    /// <summary>Copies a trace context received from upstream into headers when no activity was recorded here.</summary>
    public static void Inject(string? traceParent, Headers headers)
    {
        if (!string.IsNullOrEmpty(traceParent)) PipelineHeaders.SetString(headers, PipelineHeaders.TraceParent, traceParent);
    }
}
