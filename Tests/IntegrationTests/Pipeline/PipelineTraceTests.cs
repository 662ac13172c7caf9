using Npgsql;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineConvergence;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Pipeline;

/// <summary>
/// One trace per user across four processes: the services export over OTLP/HTTP to a listener in the test, and the
/// spans of each user share its trace id and chain parent to child (insert -> publish -> MySQL write and S3 put).
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class PipelineTraceTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Each_generated_user_is_one_trace_from_insert_to_MySQL_write_and_S3_PUT()
    {
        await using var otlp = await OtlpSpanListener.StartAsync();
        await using var h = await PipelineHarness.StartAsync(output);
        h.CommonSettings["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.Endpoint;
        h.CommonSettings["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        h.CommonSettings["OTEL_BSP_SCHEDULE_DELAY"] = "500"; // export spans every 0.5 s instead of 5 s
        await h.StartSinksAsync();
        h.StartSource("TimestampIncrementing");
        h.StartGenerator(totalCount: 3, ratePerSecond: 5);
        await h.WaitForGeneratorAsync(Patience);
        await AssertWholePipelineAsync(h);

        // The generator stores each insert's W3C context in the row: 00-<trace id>-<span id>-<flags>.
        var traceParents = new Dictionary<long, string>();
        await using (var conn = new NpgsqlConnection(h.Postgres))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT id, trace_parent FROM users ORDER BY id", conn);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                traceParents[reader.GetInt64(0)] = reader.IsDBNull(1) ? "" : reader.GetString(1);
        }
        Assert.Equal(3, traceParents.Count);
        Assert.All(traceParents.Values, tp => Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", tp));
        Assert.Equal(3, traceParents.Values.Select(tp => tp[3..35]).Distinct().Count()); // one trace per user

        string[] names = ["generator insert", "source publish", "mysql write", "s3 put"];
        await WaitUntilAsync("every user's four spans to be exported", () => Task.FromResult(traceParents.Values.All(tp =>
                names.All(n => otlp.Spans.Any(s => s.TraceId == tp[3..35] && s.Name == n)))),
            Patience, () => Task.FromResult($"spans seen: {string.Join(", ", otlp.Spans.Select(s => $"{s.Service}/{s.Name}/{s.TraceId[..8]}"))}; posts: {otlp.Posts}"));

        foreach (var (id, traceParent) in traceParents)
        {
            var traceId = traceParent[3..35];
            var spans = otlp.Spans.Where(s => s.TraceId == traceId).ToList();
            output.WriteLine($"user {id}: " + string.Join(" | ", spans.Select(s => $"{s.Service}: {s.Name} {s.SpanId} <- {s.ParentSpanId}")));
            var insert = Assert.Single(spans, s => s.Name == "generator insert");
            var publish = Assert.Single(spans, s => s.Name == "source publish");
            var write = Assert.Single(spans, s => s.Name == "mysql write");
            var put = Assert.Single(spans, s => s.Name == "s3 put");

            Assert.Equal(traceParent[36..52], insert.SpanId);
            Assert.Equal("", insert.ParentSpanId); // the user's trace starts at its insert
            Assert.Equal(insert.SpanId, publish.ParentSpanId);
            Assert.Equal(publish.SpanId, write.ParentSpanId);
            Assert.Equal(publish.SpanId, put.ParentSpanId);
            Assert.Equal(4, new[] { insert, publish, write, put }.Select(s => s.Service).Distinct().Count());
        }
    }
}
