using KafkaPipeline.Dashboard;
using KafkaPipeline.Shared.Customers;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.UnitTests.Dashboard;

public sealed class DashboardUnitTests
{
    [Fact]
    public void Every_country_the_generator_writes_has_an_ISO_code()
    {
        var codes = CountryCodes.Load(Path.Combine(AppContext.BaseDirectory, "countries"));
        // Bogus' own list: the names FakeUsers.Next() draws residence from.
        var names = ((Bogus.Bson.BArray)Bogus.Database.Get("address", "country", "en")).Cast<Bogus.Bson.BValue>().Select(v => v.StringValue).ToList();
        Assert.True(names.Count > 200, $"Bogus lists {names.Count} countries");
        Assert.Equal([], names.Where(n => codes.Numeric(n) is null).ToArray()); // lists the names without a code, if any
        Assert.Equal("250", codes.Numeric("France"));
        Assert.Equal("840", codes.Numeric("United States of America"));
        Assert.Equal("434", codes.Numeric("Libyan Arab Jamahiriya"));
        Assert.Null(codes.Numeric("Atlantis"));
    }

    [Fact]
    public async Task Every_browser_gets_the_same_update_object_and_changes_between_pushes_are_coalesced()
    {
        var tally = new CustomerTally();
        var reader = new CustomerTopicReader("127.0.0.1:1", "P_USERS", tally, NullLogger<CustomerTopicReader>.Instance);
        var updates = new LiveUpdates(tally, reader, CountryCodes.Load(Path.Combine(AppContext.BaseDirectory, "countries")),
            TimeProvider.System, Options.Create(new DashboardOptions { PushInterval = TimeSpan.FromMilliseconds(100) }));
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var followers = Enumerable.Range(0, 50).Select(_ => updates.FollowAsync(cts.Token).GetAsyncEnumerator(cts.Token)).ToList();
        foreach (var f in followers) Assert.True(await f.MoveNextAsync());
        var first = followers[0].Current;
        Assert.All(followers, f => Assert.Same(first, f.Current));

        await updates.StartAsync(cts.Token);
        // A burst of 1,000 changes between two ticks ...
        for (var i = 1; i <= 1000; i++)
            tally.Apply(new CustomerChange(i, false, "A", "Chile", DateTime.UtcNow, DateTime.UtcNow, false));
        // ... arrives as one update holding all of them, the same object for every follower.
        var next = new List<LiveUpdate>();
        foreach (var f in followers)
        {
            Assert.True(await f.MoveNextAsync());
            next.Add(f.Current);
        }
        Assert.All(next, u => Assert.Same(next[0], u));
        Assert.Contains("\"customers\":1000", next[0].Json, StringComparison.Ordinal);
        Assert.Equal(first.Sequence + 1, next[0].Sequence);
        await cts.CancelAsync();
        await updates.StopAsync(CancellationToken.None);
        foreach (var f in followers) await f.DisposeAsync();
    }

    [Fact]
    public void Bad_settings_are_named()
    {
        var errors = string.Join(" ", new DashboardOptions
        {
            Table = "users; drop", PushInterval = TimeSpan.Zero, ConsumerGroups = [""], MaxMessages = 0,
        }.Validate("Dashboard"));
        Assert.Contains("Dashboard:Table", errors);
        Assert.Contains("Dashboard:PushInterval", errors);
        Assert.Contains("Dashboard:ConsumerGroups", errors);
        Assert.Contains("Dashboard:MaxMessages", errors);
        Assert.Empty(new DashboardOptions().Validate("Dashboard"));
    }
}
