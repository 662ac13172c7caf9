using System.Net.ServerSentEvents;

namespace KafkaPipeline.Dashboard;

/// <summary>The CEO page's two routes: the current view, and the same view pushed over Server-Sent Events.</summary>
public static class DashboardApi
{
    public static IEndpointRouteBuilder MapDashboardApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/dashboard");
        api.MapGet("/snapshot", (LiveUpdates updates) => TypedResults.Text(updates.Current.Json, "application/json"));
        // The server's clock, for a page to tell how far its own is off (the latency shown is screen time - commit time).
        api.MapGet("/time", () => TypedResults.Ok(new { now = (DateTime.UtcNow - DateTime.UnixEpoch).TotalMilliseconds }));
        api.MapGet("/events", (LiveUpdates updates, IHostApplicationLifetime lifetime, CancellationToken ct) =>
            TypedResults.ServerSentEvents(Events(updates, lifetime.ApplicationStopping, ct)));
        return app;
    }

    private static async IAsyncEnumerable<SseItem<string>> Events(LiveUpdates updates, CancellationToken stopping,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        // A stream ends when its browser leaves or when the service stops: open streams must not hold up a shutdown
        // (the browsers reconnect by themselves).
        using var both = CancellationTokenSource.CreateLinkedTokenSource(stopping, ct);
        await foreach (var update in updates.FollowAsync(both.Token))
        {
            // retry: a browser whose connection drops (the Dashboard restarting) tries again after 1 s, not 3.
            yield return new SseItem<string>(update.Json, "snapshot")
            {
                EventId = update.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ReconnectionInterval = TimeSpan.FromSeconds(1),
            };
        }
    }
}
