using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KafkaPipeline.IntegrationTests.Pipeline;

/// <summary>A span as exported over OTLP: ids as lower-case hex, the exporting service's service.name.</summary>
public sealed record ExportedSpan(string Service, string TraceId, string SpanId, string ParentSpanId, string Name);

/// <summary>
/// A stand-in OTLP/HTTP collector for services running as processes: accepts POST /v1/{signal} (protobuf) and decodes
/// the spans of /v1/traces with a minimal protobuf reader (no OTLP package is available here).
/// </summary>
public sealed class OtlpSpanListener : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ExportedSpan> _spans = new();
    private readonly ConcurrentDictionary<string, int> _posts = new();

    private OtlpSpanListener(WebApplication app) => _app = app;

    public string Endpoint => _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();

    public IReadOnlyList<ExportedSpan> Spans => [.. _spans];

    public string Posts => string.Join(", ", _posts.Select(p => $"{p.Key}: {p.Value}"));

    public static async Task<OtlpSpanListener> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var listener = new OtlpSpanListener(builder.Build());
        listener._app.MapPost("/v1/{signal}", async (HttpContext context, string signal) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            listener._posts.AddOrUpdate(signal, 1, (_, n) => n + 1);
            if (signal == "traces")
            {
                foreach (var span in DecodeTraces(body.ToArray())) listener._spans.Enqueue(span);
            }
            // An empty Export*ServiceResponse encodes to zero bytes.
            context.Response.ContentType = "application/x-protobuf";
            context.Response.StatusCode = StatusCodes.Status200OK;
        });
        await listener._app.StartAsync();
        return listener;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    // ExportTraceServiceRequest{1: ResourceSpans{1: Resource{1: KeyValue{1: key, 2: AnyValue{1: string}}}, 2: ScopeSpans{2: Span}}}
    // Span{1: trace_id, 2: span_id, 4: parent_span_id, 5: name}
    internal static List<ExportedSpan> DecodeTraces(byte[] request)
    {
        var spans = new List<ExportedSpan>();
        foreach (var resourceSpans in Fields(request, 1))
        {
            var service = "";
            foreach (var resource in Fields(resourceSpans, 1))
            foreach (var attribute in Fields(resource, 1))
            {
                var key = Fields(attribute, 1).Select(Text).FirstOrDefault();
                var value = Fields(attribute, 2).SelectMany(v => Fields(v, 1)).Select(Text).FirstOrDefault();
                if (key == "service.name" && value is not null) service = value;
            }
            foreach (var scopeSpans in Fields(resourceSpans, 2))
            foreach (var span in Fields(scopeSpans, 2))
            {
                string Hex(int field) => Fields(span, field).Select(b => Convert.ToHexStringLower(b)).FirstOrDefault() ?? "";
                spans.Add(new ExportedSpan(service, Hex(1), Hex(2), Hex(4), Fields(span, 5).Select(Text).FirstOrDefault() ?? ""));
            }
        }
        return spans;
    }

    private static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>The length-delimited fields with this number in a protobuf message; other fields are skipped.</summary>
    private static IEnumerable<byte[]> Fields(byte[] message, int number)
    {
        var found = new List<byte[]>();
        var i = 0;
        while (i < message.Length)
        {
            var tag = Varint(message, ref i);
            var wireType = (int)(tag & 7);
            switch (wireType)
            {
                case 0: Varint(message, ref i); break;
                case 1: i += 8; break;
                case 5: i += 4; break;
                case 2:
                    var length = (int)Varint(message, ref i);
                    if ((int)(tag >> 3) == number) found.Add(message[i..(i + length)]);
                    i += length;
                    break;
                default: throw new InvalidDataException($"unsupported protobuf wire type {wireType}");
            }
        }
        return found;
    }

    private static ulong Varint(byte[] data, ref int i)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = data[i++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return value;
        }
    }
}
