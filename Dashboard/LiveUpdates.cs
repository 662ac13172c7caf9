using System.Text.Json;
using KafkaPipeline.Shared.Customers;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.Dashboard;

/// <summary>One update as the browsers receive it: the serialized view and its sequence number.</summary>
public sealed record LiveUpdate(long Sequence, string Json);

/// <summary>
/// Coalesces changes into at most one update per <see cref="DashboardOptions.PushInterval"/>: when the customers moved
/// (or a heartbeat is due), it serializes one view and hands the same string to every browser. A
/// browser's stream holds only a reference to the latest update, never a queue of its own, so memory stays flat in the
/// number of browsers and a slow browser simply skips to the newest state.
/// </summary>
public sealed class LiveUpdates(
    CustomerTally tally, CustomerTopicReader reader, CountryCodes codes, TimeProvider clock, IOptions<DashboardOptions> options)
    : BackgroundService
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);
    private readonly Lock _publishing = new();
    private volatile LiveUpdate? _current;
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The latest update (built on demand before the first tick).</summary>
    public LiveUpdate Current => _current ?? Publish(0);

    /// <summary>The latest update, then each newer one as it is published, until <paramref name="ct"/> ends.</summary>
    public async IAsyncEnumerable<LiveUpdate> FollowAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        long sent = -1;
        while (!ct.IsCancellationRequested)
        {
            var next = Volatile.Read(ref _next).Task; // taken before reading Current: no publish can slip in between
            var update = Current;
            if (update.Sequence != sent)
            {
                sent = update.Sequence;
                yield return update;
            }
            try
            {
                await next.WaitAsync(ct);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        // Looks for changes often (a version number compare) but pushes at most once per PushInterval: the first change
        // after a quiet spell goes out at once, a burst is coalesced.
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Min(25, o.PushInterval.TotalMilliseconds)), clock);
        long seenVersion = -1;
        var seenCaughtUp = false;
        var lastPush = DateTime.MinValue;
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var version = tally.Version;
            var caughtUp = reader.Progress.CaughtUp;
            var now = clock.GetUtcNow().UtcDateTime;
            var changed = version != seenVersion || caughtUp != seenCaughtUp;
            if (changed ? now - lastPush < o.PushInterval : now - lastPush < o.HeartbeatInterval) continue;
            seenVersion = version;
            seenCaughtUp = caughtUp;
            lastPush = now;
            Publish((_current?.Sequence ?? 0) + 1);
        }
    }

    private LiveUpdate Publish(long sequence)
    {
        lock (_publishing) return PublishLocked(sequence);
    }

    private LiveUpdate PublishLocked(long sequence)
    {
        if (_current is { } existing && existing.Sequence >= sequence) return existing; // built meanwhile by another caller
        var update = new LiveUpdate(sequence, JsonSerializer.Serialize(View(tally.Snapshot(), sequence), s_json));
        _current = update;
        var previous = Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        previous.TrySetResult();
        return update;
    }

    private DashboardView View(CustomerSnapshot s, long sequence)
    {
        var progress = reader.Progress;
        var now = clock.GetUtcNow().UtcDateTime;
        return new DashboardView(
            Sequence: sequence,
            ServerTime: EpochMs(now),
            CaughtUp: progress.CaughtUp,
            Replayed: progress.Read,
            ToReplay: progress.AtStart,
            Customers: s.Customers,
            SignupsLastMinute: s.SignupsLastMinute,
            SignupsLastHour: s.SignupsLastHour,
            SignupsPerMinute: s.SignupsPerMinute,
            Countries: [.. s.Countries.Select(c => new CountryView(c.Country, codes.Numeric(c.Country), c.Customers))],
            Latest: [.. s.Latest.Select(l => new SignupView(l.FirstName, l.Country, EpochMs(l.CreatedAt)))],
            LastChange: s.LastCommit is { } commit && s.LastAppliedAt is { } applied
                ? new ChangeView(EpochMs(commit), EpochMs(applied), Math.Round((applied - commit).TotalMilliseconds, 1),
                    s.LastCommitFromHeader ? "commit time (source.commit_ts)" : "updated_at")
                : null,
            Skipped: s.Skipped);
    }

    private static double EpochMs(DateTime utc) => Math.Round((utc - DateTime.UnixEpoch).TotalMilliseconds, 3);
}

/// <summary>What the CEO page shows (camelCase JSON). Times are milliseconds since 1970 (UTC).</summary>
public sealed record DashboardView(
    long Sequence, double ServerTime, bool CaughtUp, long Replayed, long ToReplay,
    long Customers, long SignupsLastMinute, long SignupsLastHour, IReadOnlyList<long> SignupsPerMinute,
    IReadOnlyList<CountryView> Countries, IReadOnlyList<SignupView> Latest, ChangeView? LastChange, long Skipped);

/// <summary>A country's customers; <paramref name="Iso"/> is the ISO 3166-1 numeric code of its shape on the map.</summary>
public sealed record CountryView(string Name, string? Iso, long Customers);

public sealed record SignupView(string FirstName, string Country, double CreatedAt);

/// <summary>The newest change applied: when PostgreSQL committed it and when the Dashboard had it.</summary>
public sealed record ChangeView(double CommittedAt, double AppliedAt, double PipelineMs, string TimeSource);
