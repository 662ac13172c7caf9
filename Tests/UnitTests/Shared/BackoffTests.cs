using KafkaPipeline.Shared;
using Microsoft.Extensions.Logging.Abstractions;

namespace KafkaPipeline.UnitTests.Shared;

public sealed class BackoffTests
{
    private static readonly TimeSpan s_max = TimeSpan.FromSeconds(5);

    [Fact]
    public void Session_waits_double_from_the_first_delay_up_to_the_cap()
    {
        var delays = new Backoff.Delays();
        var waits = Enumerable.Range(0, 7).Select(_ => delays.Next(s_max).TotalMilliseconds).ToArray();
        Assert.Equal(new double[] { 250, 500, 1000, 2000, 4000, 5000, 5000 }, waits);
    }

    [Fact]
    public void A_session_that_made_progress_starts_the_waits_over()
    {
        var delays = new Backoff.Delays();
        delays.Next(s_max);
        delays.Next(s_max);
        delays.Reset();
        Assert.Equal(Backoff.FirstDelay, delays.Next(s_max));
    }

    [Fact]
    public void A_floor_raises_the_wait_and_the_next_one_doubles_from_it()
    {
        var delays = new Backoff.Delays();
        Assert.Equal(TimeSpan.FromSeconds(5), delays.Next(TimeSpan.FromSeconds(60), atLeast: TimeSpan.FromSeconds(5)));
        Assert.Equal(TimeSpan.FromSeconds(10), delays.Next(TimeSpan.FromSeconds(60), atLeast: TimeSpan.FromSeconds(5)));
        // A lower cap applies to the wait after this one, not to this one.
        Assert.Equal(TimeSpan.FromSeconds(20), delays.Next(s_max));
        Assert.Equal(s_max, delays.Next(s_max));
    }

    [Fact]
    public async Task An_error_outside_retry_on_is_thrown_at_the_first_attempt()
    {
        var attempts = 0;
        await Assert.ThrowsAsync<InvalidOperationException>(() => Backoff.UntilDoneAsync("server", "work", _ =>
        {
            attempts++;
            throw new InvalidOperationException("a bug");
        }, s_max, NullLogger.Instance, CancellationToken.None, retryOn: e => e is TimeoutException));
        Assert.Equal(1, attempts);
    }

    [Fact]
    public async Task An_error_retry_on_accepts_is_waited_out_until_the_attempt_succeeds()
    {
        var attempts = 0;
        var result = await Backoff.UntilDoneAsync("server", "work", _ =>
            ++attempts < 2 ? throw new TimeoutException("not yet") : Task.FromResult(attempts),
            s_max, NullLogger.Instance, CancellationToken.None, retryOn: e => e is TimeoutException);
        Assert.Equal(2, result);
    }

    [Fact]
    public async Task A_not_retriable_error_is_thrown_at_once_whatever_retry_on_says()
    {
        var attempts = 0;
        await Assert.ThrowsAsync<NotRetriableException>(() => Backoff.UntilDoneAsync("server", "work", _ =>
        {
            attempts++;
            throw new NotRetriableException("missing privilege");
        }, s_max, NullLogger.Instance, CancellationToken.None, retryOn: _ => true));
        Assert.Equal(1, attempts);
    }
}
