using System.Text;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Customers;

namespace KafkaPipeline.UnitTests.Dashboard;

public sealed class CustomerTallyTests
{
    private static readonly DateTime Now = new(2026, 11, 29, 12, 0, 0, DateTimeKind.Utc);

    private sealed class FixedClock(DateTime now) : TimeProvider
    {
        public DateTime Now { get; set; } = now;
        public override DateTimeOffset GetUtcNow() => new(Now);
    }

    private static Message<byte[]?, byte[]?> Row(long id, string name, string country, DateTime created, string? commitTs = null)
    {
        var headers = new Headers();
        if (commitTs is not null) headers.Add(ChangeHeaders.CommitTime, Encoding.UTF8.GetBytes(commitTs));
        var user = new UserRecord
        {
            Id = id, Name = name, Username = "u", Sex = "F", Address = "1 Road", Mail = "m@x", Birthdate = new DateOnly(1990, 1, 1),
            Job = "j", Company = "c", Ssn = "123-45-6789", Residence = country, CreatedAt = created, UpdatedAt = created,
        };
        return new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(id.ToString(System.Globalization.CultureInfo.InvariantCulture)), Value = UsersEvents.Value(user), Headers = headers };
    }

    private static Message<byte[]?, byte[]?> Tombstone(long id) =>
        new() { Key = Encoding.UTF8.GetBytes(id.ToString(System.Globalization.CultureInfo.InvariantCulture)), Value = null };

    private static CustomerChange Parse(Message<byte[]?, byte[]?> m) =>
        CustomerChange.From(m, out var error) ?? throw new InvalidOperationException(error);

    private static CustomerTally Replay(IEnumerable<Message<byte[]?, byte[]?>> messages, TimeProvider clock)
    {
        var tally = new CustomerTally(clock);
        foreach (var m in messages)
        {
            if (CustomerChange.From(m, out _) is { } c) tally.Apply(c);
            else tally.Skip();
        }
        return tally;
    }

    [Fact]
    public void Updates_move_users_between_countries_tombstones_remove_them_and_a_replay_gives_the_same_numbers()
    {
        var clock = new FixedClock(Now);
        var log = new List<Message<byte[]?, byte[]?>>
        {
            Row(1, "Ann Lee", "France", Now.AddMinutes(-30)),
            Row(2, "Bob Roe", "France", Now.AddMinutes(-20)),
            Row(3, "Cid Moe", "Peru", Now.AddSeconds(-30)),
            Row(1, "Ann Lee", "Peru", Now.AddMinutes(-30)),   // Ann moves from France to Peru
            Tombstone(2),                                      // Bob is deleted
            Row(4, "Dee Poe", "Japan", Now.AddHours(-3)),     // signed up long ago
            new() { Key = "5"u8.ToArray(), Value = "{not json"u8.ToArray() },
        };
        var tally = Replay(log, clock);
        var s = tally.Snapshot();

        Assert.Equal(3, s.Customers);
        Assert.Equal([new CountryCount("Peru", 2), new CountryCount("Japan", 1)], s.Countries);
        Assert.Equal(1, s.SignupsLastMinute); // Cid
        Assert.Equal(2, s.SignupsLastHour);   // Ann and Cid (Bob was deleted, Dee is older)
        Assert.Equal(["Cid", "Ann", "Dee"], s.Latest.Select(l => l.FirstName));
        Assert.Equal(1, s.Skipped);

        // The same log read again (a restart) gives the same state.
        var again = Replay(log, clock).Snapshot();
        Assert.Equal(s.Customers, again.Customers);
        Assert.Equal(s.Countries, again.Countries);
        Assert.Equal(s.Latest, again.Latest);
        Assert.Equal(s.SignupsLastHour, again.SignupsLastHour);
    }

    [Fact]
    public void Sign_up_windows_follow_the_clock()
    {
        var clock = new FixedClock(Now);
        var tally = Replay([Row(1, "A", "Chile", Now.AddSeconds(-10)), Row(2, "B", "Chile", Now.AddMinutes(-59).AddSeconds(-30))], clock);
        Assert.Equal((1, 2), (tally.Snapshot().SignupsLastMinute, tally.Snapshot().SignupsLastHour));
        var perMinute = tally.Snapshot().SignupsPerMinute;
        Assert.Equal(60, perMinute.Count);
        Assert.Equal((1, 1, 2), (perMinute[^1], perMinute[0], perMinute.Sum()));
        clock.Now = Now.AddMinutes(2);
        Assert.Equal((0, 1), (tally.Snapshot().SignupsLastMinute, tally.Snapshot().SignupsLastHour));
        clock.Now = Now.AddHours(2);
        Assert.Equal((0, 0), (tally.Snapshot().SignupsLastMinute, tally.Snapshot().SignupsLastHour));
        Assert.Equal(2, tally.Snapshot().Customers);
    }

    [Fact]
    public void The_latest_change_time_comes_from_the_commit_header_when_present_and_is_forgotten_on_catching_up()
    {
        var clock = new FixedClock(Now);
        var tally = new CustomerTally(clock);
        tally.Apply(Parse(Row(1, "A", "Chile", Now.AddSeconds(-5))));
        Assert.Equal(Now.AddSeconds(-5), tally.Snapshot().LastCommit);
        Assert.False(tally.Snapshot().LastCommitFromHeader);

        tally.Apply(Parse(Row(2, "B", "Chile", Now.AddSeconds(-5), commitTs: "2026-11-29T11:59:59.500000Z")));
        Assert.Equal(new DateTime(2026, 11, 29, 11, 59, 59, 500, DateTimeKind.Utc), tally.Snapshot().LastCommit);
        Assert.True(tally.Snapshot().LastCommitFromHeader);

        tally.ForgetLastChange();
        Assert.Null(tally.Snapshot().LastCommit);
    }

    [Fact]
    public void Only_the_first_name_of_a_user_is_kept_and_malformed_changes_say_why()
    {
        var change = Parse(Row(9, "  Mary Ann Smith ", "Chile", Now));
        Assert.Equal("Mary", change.FirstName);
        Assert.Equal("Chile", change.Country);

        Assert.Null(CustomerChange.From(new Message<byte[]?, byte[]?> { Key = "x"u8.ToArray(), Value = null }, out var e1));
        Assert.Contains("tombstone", e1);
        Assert.Null(CustomerChange.From(new Message<byte[]?, byte[]?> { Key = "1"u8.ToArray(), Value = """{"id":1,"name":"A"}"""u8.ToArray() }, out var e2));
        Assert.Contains("created_at", e2);
        Assert.Null(CustomerChange.From(new Message<byte[]?, byte[]?> { Key = "1"u8.ToArray(), Value = "[1,2]"u8.ToArray() }, out var e3));
        Assert.Contains("not a JSON object", e3);
    }

    [Fact]
    public void The_latest_list_keeps_the_newest_sign_ups_and_drops_deleted_ones()
    {
        var clock = new FixedClock(Now);
        var tally = new CustomerTally(clock, latestCapacity: 3);
        for (var i = 1; i <= 5; i++) tally.Apply(Parse(Row(i, $"U{i}", "Chile", Now.AddSeconds(i))));
        tally.Apply(Parse(Row(6, "Old", "Chile", Now.AddDays(-1)))); // older than all: not in the list
        Assert.Equal(["U5", "U4", "U3"], tally.Snapshot().Latest.Select(l => l.FirstName));
        tally.Apply(Parse(Tombstone(4)));
        Assert.Equal(["U5", "U3"], tally.Snapshot().Latest.Select(l => l.FirstName));
        Assert.Equal(5, tally.Snapshot().Customers); // six signed up, one deleted
    }
}
