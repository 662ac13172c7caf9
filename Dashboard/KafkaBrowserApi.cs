namespace KafkaPipeline.Dashboard;

/// <summary>The topic browser's routes (/kafka is the page): cluster, consumer groups, messages of a partition.</summary>
public static class KafkaBrowserApi
{
    public static IEndpointRouteBuilder MapKafkaBrowserApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/kafka");
        api.MapGet("/cluster", async (KafkaBrowser kafka, CancellationToken ct) => TypedResults.Ok(await kafka.ClusterAsync(ct)));
        api.MapGet("/groups", async (KafkaBrowser kafka, CancellationToken ct) => TypedResults.Ok(await kafka.GroupsAsync(ct)));
        api.MapGet("/messages", async Task<IResult> (KafkaBrowser kafka, string? topic, int? partition, long? offset, int? limit, CancellationToken ct) =>
        {
            if (string.IsNullOrWhiteSpace(topic)) return TypedResults.BadRequest(new { error = "query parameter 'topic' is required" });
            if (partition is null or < 0) return TypedResults.BadRequest(new { error = "query parameter 'partition' must be 0 or more" });
            if (offset is < 0) return TypedResults.BadRequest(new { error = "query parameter 'offset' must be 0 or more" });
            try
            {
                return TypedResults.Ok(await kafka.MessagesAsync(topic, partition.Value, offset ?? 0, limit ?? 20, ct));
            }
            catch (ArgumentException e)
            {
                return TypedResults.NotFound(new { error = e.Message });
            }
        });
        return app;
    }
}
