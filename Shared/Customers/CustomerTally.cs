namespace KafkaPipeline.Shared.Customers;

/// <summary>
/// The customers as the P_USERS topic says they are now: per user id the latest country, so an update that changes the
/// country moves the user, a tombstone removes them, and reading the topic again from the beginning gives the same
/// numbers. Also the sign-ups of the last hour (by PostgreSQL's created_at) and the latest sign-ups.
/// <para>
/// "Where they sign up from" is the <c>residence</c> column: the Generator fills it with a country name (Bogus'
/// address.country), the only country-level field a user row has (address is a street, city and ZIP code).
/// </para>
/// Memory: one 24-byte dictionary entry per user (id, country index, creation second).
/// The countries are a bounded set: what <paramref name="countries"/> maps a residence to (the Dashboard: a name with an
/// ISO code, or "other"), and never more than <see cref="MaxCountries"/> of them whatever the topic holds.
/// Thread-safe: one writer (the topic reader) and any number of readers taking snapshots.
/// </summary>
public sealed class CustomerTally(TimeProvider? clock = null, int latestCapacity = 20, ICountryMap? countries = null)
{
    /// <summary>Most distinct countries kept; past it every new one counts as <see cref="CustomerChange.OtherCountry"/>.</summary>
    public const int MaxCountries = 512;

    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly Lock _gate = new();
    private readonly Dictionary<long, Customer> _customers = [];
    private readonly List<string> _countries = [];
    private readonly Dictionary<string, ushort> _countryIndex = new(StringComparer.Ordinal);
    private readonly List<long> _perCountry = [];
    private readonly SignupWindow _signups = new();
    private readonly List<RecentSignup> _latest = [];
    private long _version;
    private long _changes;
    private long _skipped;
    private DateTime? _lastCommit;
    private DateTime _lastAppliedAt;
    private bool _lastCommitFromHeader;

    /// <summary>Grows by one with every applied change: readers compare it to know whether anything moved.</summary>
    public long Version => Volatile.Read(ref _version);

    public void Apply(CustomerChange change)
    {
        var now = _clock.GetUtcNow().UtcDateTime;
        lock (_gate)
        {
            _changes++;
            if (change.Deleted) Remove(change.Id);
            else Upsert(change, now);
            if (change.CommittedAt is { } committed && (_lastCommit is null || committed >= _lastCommit))
            {
                _lastCommit = committed;
                _lastAppliedAt = now;
                _lastCommitFromHeader = change.CommitFromHeader;
            }
            _version++;
        }
    }

    /// <summary>
    /// Makes room for about <paramref name="users"/> users at once (the reader passes the number of messages it is about
    /// to replay, an upper bound): one allocation instead of a dozen doublings, whose discarded arrays would stay in
    /// the process's memory as free heap.
    /// </summary>
    public void Reserve(long users)
    {
        lock (_gate) _customers.EnsureCapacity((int)Math.Clamp(users, 0, 50_000_000));
    }

    /// <summary>
    /// Forgets the latest change's times: called when the reader has caught up, so the latency shown is that of a
    /// change that arrived live, not of the last one replayed from history.
    /// </summary>
    public void ForgetLastChange()
    {
        lock (_gate)
        {
            _lastCommit = null;
            _version++;
        }
    }

    /// <summary>Counts a message that carried no user change (the reader logs it; the sinks dead-letter it).</summary>
    public void Skip()
    {
        lock (_gate)
        {
            _skipped++;
            _version++;
        }
    }

    public CustomerSnapshot Snapshot()
    {
        var now = _clock.GetUtcNow().UtcDateTime;
        var nowSecond = ToSecond(now);
        lock (_gate)
        {
            var countries = new List<CountryCount>(_countries.Count);
            for (var i = 0; i < _countries.Count; i++)
            {
                if (_perCountry[i] > 0) countries.Add(new CountryCount(_countries[i], _perCountry[i]));
            }
            countries.Sort((a, b) => b.Customers != a.Customers ? b.Customers.CompareTo(a.Customers) : string.CompareOrdinal(a.Country, b.Country));
            return new CustomerSnapshot(
                Version: _version,
                Customers: _customers.Count,
                SignupsLastMinute: _signups.Count(nowSecond, 60),
                SignupsLastHour: _signups.Count(nowSecond, SignupWindow.Seconds),
                SignupsPerMinute: _signups.PerMinute(nowSecond),
                Countries: countries,
                Latest: [.. _latest],
                LastCommit: _lastCommit,
                LastAppliedAt: _lastCommit is null ? null : _lastAppliedAt,
                LastCommitFromHeader: _lastCommitFromHeader,
                Changes: _changes,
                Skipped: _skipped);
        }
    }

    private void Upsert(CustomerChange change, DateTime now)
    {
        var country = CountryIndex(Country(change));
        var created = (uint)Math.Clamp(ToSecond(change.CreatedAt), 0, uint.MaxValue);
        if (_customers.TryGetValue(change.Id, out var old))
        {
            if (old.Country != country)
            {
                _perCountry[old.Country]--;
                _perCountry[country]++;
            }
            if (old.CreatedSecond != created)
            {
                _signups.Remove(old.CreatedSecond, ToSecond(now));
                _signups.Add(created, ToSecond(now));
            }
        }
        else
        {
            _perCountry[country]++;
            _signups.Add(created, ToSecond(now));
        }
        _customers[change.Id] = new Customer(country, created);
        UpdateLatest(change, _countries[country]);
    }

    private void Remove(long id)
    {
        if (!_customers.Remove(id, out var old)) return;
        _perCountry[old.Country]--;
        _signups.Remove(old.CreatedSecond, ToSecond(_clock.GetUtcNow().UtcDateTime));
        var i = _latest.FindIndex(s => s.Id == id);
        if (i >= 0) _latest.RemoveAt(i);
    }

    /// <summary>Keeps the newest sign-ups by created_at (then id); an update of one of them refreshes its line.</summary>
    private void UpdateLatest(CustomerChange change, string country)
    {
        var entry = new RecentSignup(change.Id, change.FirstName ?? "", country, change.CreatedAt);
        var i = _latest.FindIndex(s => s.Id == change.Id);
        if (i >= 0) _latest.RemoveAt(i);
        if (_latest.Count >= latestCapacity && IsNewer(_latest[^1], entry)) return;
        var at = _latest.FindIndex(s => IsNewer(entry, s));
        _latest.Insert(at < 0 ? _latest.Count : at, entry);
        if (_latest.Count > latestCapacity) _latest.RemoveAt(_latest.Count - 1);
    }

    private static bool IsNewer(RecentSignup a, RecentSignup b) =>
        a.CreatedAt != b.CreatedAt ? a.CreatedAt > b.CreatedAt : a.Id > b.Id;

    private string Country(CustomerChange change) =>
        change.Country is not { } residence ? CustomerChange.UnknownCountry
            : countries is null || residence is CustomerChange.UnknownCountry or CustomerChange.OtherCountry ? residence
            : countries.Map(residence);

    private ushort CountryIndex(string country)
    {
        if (_countryIndex.TryGetValue(country, out var index)) return index;
        if (_countries.Count >= MaxCountries - 1) country = CustomerChange.OtherCountry; // the last slot is "other"'s
        if (_countryIndex.TryGetValue(country, out index)) return index;
        index = (ushort)_countries.Count;
        _countries.Add(country);
        _perCountry.Add(0);
        _countryIndex[country] = index;
        return index;
    }

    private static long ToSecond(DateTime utc) => (utc.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerSecond;

    /// <summary>8 bytes: the country's index and the creation time in whole seconds since 1970 (unsigned: to 2106).</summary>
    private readonly record struct Customer(ushort Country, uint CreatedSecond);
}

/// <summary>
/// What a live view counts a residence under: one of a bounded set of countries (the Dashboard maps names to those with
/// an ISO code, anything else to <see cref="CustomerChange.OtherCountry"/>). Called under the tally's lock.
/// </summary>
public interface ICountryMap
{
    string Map(string residence);
}

/// <summary>Customers of one country.</summary>
public sealed record CountryCount(string Country, long Customers);

/// <summary>One of the latest sign-ups (the id stays on the server; screens show first name and country).</summary>
public sealed record RecentSignup(long Id, string FirstName, string Country, DateTime CreatedAt);

/// <summary>The customers at one moment: what the live views show.</summary>
public sealed record CustomerSnapshot(
    long Version, long Customers, long SignupsLastMinute, long SignupsLastHour, IReadOnlyList<long> SignupsPerMinute,
    IReadOnlyList<CountryCount> Countries, IReadOnlyList<RecentSignup> Latest,
    DateTime? LastCommit, DateTime? LastAppliedAt, bool LastCommitFromHeader, long Changes, long Skipped);

/// <summary>
/// Sign-ups per second of creation over the last hour, in a ring of 3,600 counters: adding, removing and counting the
/// last N seconds cost the same whatever the number of users.
/// </summary>
internal sealed class SignupWindow
{
    public const int Seconds = 3600;
    private readonly long[] _second = new long[Seconds];
    private readonly int[] _count = new int[Seconds];

    public void Add(long createdSecond, long nowSecond) => Change(createdSecond, nowSecond, +1);

    public void Remove(long createdSecond, long nowSecond) => Change(createdSecond, nowSecond, -1);

    /// <summary>Sign-ups created in the last <paramref name="seconds"/> seconds up to now (a clock a minute ahead included).</summary>
    public long Count(long nowSecond, int seconds)
    {
        long total = 0;
        for (var i = 0; i < Seconds; i++)
        {
            var age = nowSecond - _second[i];
            if (_count[i] > 0 && age < seconds && age > -60) total += _count[i];
        }
        return total;
    }

    /// <summary>Sign-ups in each of the last 60 minutes, oldest first; the last entry is the minute up to now.</summary>
    public long[] PerMinute(long nowSecond)
    {
        var minutes = new long[Seconds / 60];
        for (var i = 0; i < Seconds; i++)
        {
            var age = nowSecond - _second[i];
            if (_count[i] > 0 && age is >= 0 and < Seconds) minutes[^(1 + (int)(age / 60))] += _count[i];
        }
        return minutes;
    }

    private void Change(long createdSecond, long nowSecond, int delta)
    {
        var age = nowSecond - createdSecond;
        if (age >= Seconds || age <= -60) return; // outside the window: never counted
        var slot = (int)(((createdSecond % Seconds) + Seconds) % Seconds);
        if (_second[slot] != createdSecond)
        {
            if (delta < 0) return; // the slot was reused by a newer second: this sign-up no longer counts
            _second[slot] = createdSecond;
            _count[slot] = 0;
        }
        _count[slot] = Math.Max(0, _count[slot] + delta);
    }
}
