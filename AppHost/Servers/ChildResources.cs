namespace KafkaPipeline.AppHost.Servers;

/// <summary>
/// A database resource below a server shows the server's state. Aspire does this for children of containers only; for
/// the local runtime's executables this mirrors it, so a database turns Running (and its health check starts) with its
/// server.
/// </summary>
internal static class ChildResources
{
    public static IResourceBuilder<T> WithStateOfParent<T>(this IResourceBuilder<T> builder) where T : IResourceWithParent =>
        builder.OnInitializeResource(async (child, e, ct) =>
        {
            await foreach (var change in e.Notifications.WatchAsync(ct))
            {
                if (change.Resource != child.Parent) continue;
                await e.Notifications.PublishUpdateAsync(child, s => s with
                {
                    State = change.Snapshot.State,
                    StartTimeStamp = change.Snapshot.StartTimeStamp,
                    StopTimeStamp = change.Snapshot.StopTimeStamp,
                });
            }
        });
}
