using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace KafkaPipeline.Shared;

/// <summary>
/// The one place the services back off from a server that does not answer (Polly retry pipelines): exponential from
/// 250 ms up to a cap, with jitter, each failure logged as "Waiting for {target}: {what} failed ..." and the recovery
/// as "{target} is back". Errors that retrying cannot fix are thrown as <see cref="NotRetriableException"/> and pass
/// through at once. A loop that retries whole sessions rather than single calls takes its waits from <see cref="Delays"/>.
/// </summary>
public static class Backoff
{
    public static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Runs <paramref name="attempt"/> until it succeeds. <paramref name="stopRetrying"/> ends the waiting: the first
    /// attempt always runs, later ones only while it is not cancelled (an attempt in progress is never cut here).
    /// <paramref name="retryOn"/> narrows which errors are waited out (default: all but <see cref="NotRetriableException"/>);
    /// any other error is thrown at once.
    /// </summary>
    public static async Task<T> UntilDoneAsync<T>(string target, string what, Func<CancellationToken, Task<T>> attempt,
        TimeSpan maxDelay, ILogger logger, CancellationToken stopRetrying, Func<Exception, bool>? retryOn = null) =>
        await RetryAsync(target, what, attempt, int.MaxValue, maxDelay, logger, retryOn, stopRetrying);

    public static Task UntilDoneAsync(string target, string what, Func<CancellationToken, Task> attempt,
        TimeSpan maxDelay, ILogger logger, CancellationToken stopRetrying, Func<Exception, bool>? retryOn = null) =>
        UntilDoneAsync(target, what, async c => { await attempt(c); return true; }, maxDelay, logger, stopRetrying, retryOn);

    /// <summary>Runs <paramref name="attempt"/> and retries it at most <paramref name="retries"/> times; then its error is thrown.</summary>
    public static Task<T> BoundedAsync<T>(string target, string what, Func<CancellationToken, Task<T>> attempt, int retries,
        TimeSpan maxDelay, ILogger logger, CancellationToken ct) =>
        RetryAsync(target, what, attempt, retries, maxDelay, logger, retryOn: null, ct);

    private static async Task<T> RetryAsync<T>(string target, string what, Func<CancellationToken, Task<T>> attempt,
        int retries, TimeSpan maxDelay, ILogger logger, Func<Exception, bool>? retryOn, CancellationToken ct)
    {
        var failures = 0;
        var pipeline = new ResiliencePipelineBuilder<T>().AddRetry(new RetryStrategyOptions<T>
        {
            ShouldHandle = new PredicateBuilder<T>().Handle<Exception>(e =>
                e is not (NotRetriableException or OperationCanceledException) && (retryOn?.Invoke(e) ?? true)),
            MaxRetryAttempts = retries,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = FirstDelay,
            MaxDelay = maxDelay < FirstDelay ? FirstDelay : maxDelay,
            OnRetry = args =>
            {
                failures = args.AttemptNumber + 1;
                PipelineTelemetry.Errors.Add(1, new KeyValuePair<string, object?>("stage", "retry"));
                logger.LogWarning("Waiting for {Target}: {What} failed (attempt {Attempt}), retrying in {Delay} ms: {Error}",
                    target, what, failures, (int)args.RetryDelay.TotalMilliseconds, args.Outcome.Exception?.Message);
                return default;
            },
        }).Build();
        // Polly checks its token before each attempt: hand it one that is cancelled only once the first attempt has begun.
        using var afterFirst = new CancellationTokenSource();
        CancellationTokenRegistration? link = null;
        try
        {
            var result = await pipeline.ExecuteAsync(async _ =>
            {
                link ??= ct.Register(afterFirst.Cancel);
                return await attempt(ct);
            }, afterFirst.Token);
            if (failures > 0) logger.LogInformation("{Target} is back: {What} succeeded after {Attempts} attempts", target, what, failures + 1);
            return result;
        }
        finally
        {
            link?.Dispose();
        }
    }

    /// <summary>
    /// The waits of a loop that retries whole sessions (a stream that runs until it fails): each wait doubles the last,
    /// from <see cref="FirstDelay"/> up to the cap given with it, and a session that made progress starts them over.
    /// Without jitter: one loop per process, and its wait is reported as it is. Not thread-safe.
    /// </summary>
    public sealed class Delays
    {
        private TimeSpan _next = FirstDelay;

        /// <summary>The wait before the next session (at least <paramref name="atLeast"/>); the one after it doubles, up to <paramref name="max"/>.</summary>
        public TimeSpan Next(TimeSpan max, TimeSpan atLeast = default)
        {
            var delay = _next < atLeast ? atLeast : _next;
            _next = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, max.Ticks));
            return delay;
        }

        /// <summary>The session made progress: the next wait is <see cref="FirstDelay"/> again.</summary>
        public void Reset() => _next = FirstDelay;
    }
}
