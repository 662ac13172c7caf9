using Microsoft.Extensions.Logging;

namespace KafkaPipeline.Shared;

/// <summary>
/// Waits for a server the service needs at start-up, logging what it waits for, instead of failing half-started.
/// Configuration errors are not retried: they fail at once through options validation, and a
/// <see cref="NotRetriableException"/> (a missing privilege, a server setting) ends the wait.
/// </summary>
public static class StartupRetry
{
    private static readonly TimeSpan s_maxDelay = TimeSpan.FromSeconds(5);

    public static Task<T> WaitForAsync<T>(string what, Func<CancellationToken, Task<T>> probe, ILogger logger, CancellationToken ct) =>
        Backoff.UntilDoneAsync(what, "start-up check", probe, s_maxDelay, logger, ct);

    public static Task WaitForAsync(string what, Func<CancellationToken, Task> probe, ILogger logger, CancellationToken ct) =>
        Backoff.UntilDoneAsync(what, "start-up check", probe, s_maxDelay, logger, ct);
}
