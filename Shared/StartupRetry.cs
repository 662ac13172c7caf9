using Microsoft.Extensions.Logging;

namespace KafkaPipeline.Shared;

/// <summary>
/// Waits for a server the service needs at start-up, logging what it waits for, instead of failing half-started.
/// Configuration errors are not retried: they fail at once through options validation.
/// </summary>
public static class StartupRetry
{
    public static async Task<T> WaitForAsync<T>(string what, Func<CancellationToken, Task<T>> probe, ILogger logger, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await probe(ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                logger.LogWarning("Waiting for {What} (attempt {Attempt}, next in {Delay} ms): {Error}",
                    what, attempt, (int)delay.TotalMilliseconds, e.Message);
                await Task.Delay(delay, ct);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
            }
        }
    }

    public static Task WaitForAsync(string what, Func<CancellationToken, Task> probe, ILogger logger, CancellationToken ct) =>
        WaitForAsync<bool>(what, async c => { await probe(c); return true; }, logger, ct);
}
