using KafkaPipeline.Dashboard;
using KafkaPipeline.Shared;
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
    public async Task Every_browser_gets_the_same_update_object_and_a_burst_of_changes_is_coalesced()
    {
        var tally = new CustomerTally();
        var reader = new CustomerTopicReader(new KafkaClients("127.0.0.1:1", NullLoggerFactory.Instance), "P_USERS", tally, NullLogger<CustomerTopicReader>.Instance);
        var interval = TimeSpan.FromMilliseconds(200);
        var updates = new LiveUpdates(tally, reader, CountryCodes.Load(Path.Combine(AppContext.BaseDirectory, "countries")),
            TimeProvider.System, Options.Create(new DashboardOptions { PushInterval = interval }));
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await updates.StartAsync(cts.Token);

        // 50 browsers follow while 1,000 changes arrive over about a second.
        var seen = new List<LiveUpdate>[50];
        var followers = Enumerable.Range(0, seen.Length).Select(i => Task.Run(async () =>
        {
            seen[i] = [];
            await foreach (var u in updates.FollowAsync(cts.Token))
            {
                seen[i].Add(u);
                if (u.Json.Contains("\"customers\":1000,", StringComparison.Ordinal)) return;
            }
        })).ToList();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 1; i <= 1000; i++)
        {
            tally.Apply(new CustomerChange(i, false, "A", "Chile", DateTime.UtcNow, DateTime.UtcNow, false));
            if (i % 10 == 0) await Task.Delay(10);
        }
        await Task.WhenAll(followers);
        var elapsed = clock.Elapsed;
        await cts.CancelAsync();
        await updates.StopAsync(CancellationToken.None);

        // Each update is one object shared by every browser that received it (no copy per browser) ...
        var bySequence = seen.SelectMany(s => s).GroupBy(u => u.Sequence);
        Assert.All(bySequence, g => Assert.All(g, u => Assert.Same(g.First(), u)));
        // ... and a browser got at most one update per push interval, not one per change.
        var most = seen.Max(s => s.Count);
        Assert.True(most <= elapsed / interval + 2, $"{most} updates in {elapsed.TotalMilliseconds:F0} ms for 1,000 changes");
        Assert.All(seen, s => Assert.Contains("\"customers\":1000,", s[^1].Json, StringComparison.Ordinal));
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
        Assert.Equal(["mysql-sink", "s3-sink"], new DashboardOptions().GroupsShown);
        Assert.Equal(["g"], new DashboardOptions { ConsumerGroups = ["g"] }.GroupsShown);
    }

    [Fact]
    public void Personal_fields_are_per_table_and_the_browser_shows_each_tables_topic_and_dead_letter_topic()
    {
        var options = new DashboardOptions { PersonalFields = new(StringComparer.OrdinalIgnoreCase) { ["orders"] = ["card"], ["sales.orders"] = ["iban"] } };
        Assert.Equal(["card"], options.PersonalFieldsOf(new TableName(null, "orders")));
        Assert.Equal(["card"], options.PersonalFieldsOf(new TableName("public", "orders")));
        Assert.Equal(["iban"], options.PersonalFieldsOf(new TableName("sales", "orders")));
        Assert.Equal(DashboardOptions.DefaultPersonalFields, options.PersonalFieldsOf(new TableName(null, "users")));
        Assert.Empty(options.PersonalFieldsOf(new TableName(null, "invoices")));

        var topics = options.BrowsableTopics(new PipelineOptions { Tables = "users,sales.orders" });
        Assert.Equal(["P_USERS", "P_USERS.dlq", "P_SALES_ORDERS", "P_SALES_ORDERS.dlq"], topics.Keys);
        Assert.Equal(new TableName("sales", "orders"), topics["P_SALES_ORDERS.dlq"]);
        Assert.Equal(new TableName(null, "users"), topics["P_USERS"]);
    }
}
