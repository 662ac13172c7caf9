using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using KafkaPipeline.Shared;
using KafkaPipeline.Tests;

namespace KafkaPipeline.IntegrationTests.Pipeline;

/// <summary>The pipeline's promises, checked on real contents, with messages that show the first differences.</summary>
public static class PipelineAssert
{
    /// <summary>
    /// P_USERS holds each (id, updated_at) version at most once, every PostgreSQL row's current version is there with
    /// equal fields, keys are the ids, partitions are murmur2(key) % n, and nothing is there that PostgreSQL never had.
    /// Messages at <paramref name="foreign"/> (partition, offset) were produced by the test itself and are skipped.
    /// </summary>
    public static void TopicHoldsEachVersionOnce(
        IReadOnlyList<TopicMessage> messages, IReadOnlyDictionary<long, UserRecord> postgres,
        IReadOnlySet<(int, long)>? foreign = null, int partitions = PipelineHarness.Partitions)
    {
        var own = messages.Where(m => foreign is null || !foreign.Contains((m.Partition, m.Offset))).ToList();
        var invalid = own.Where(m => m.User is null).Take(3).ToList();
        Assert.True(invalid.Count == 0, "P_USERS holds values that are not user records: " +
            string.Join("; ", invalid.Select(m => $"{m.Partition}@{m.Offset} {Text(m.Value)}")));

        var badKeys = own.Where(m => m.KeyText != m.User!.Id.ToString(CultureInfo.InvariantCulture)).Take(3).ToList();
        Assert.True(badKeys.Count == 0, "key is not the id: " + string.Join("; ", badKeys.Select(m => $"{m.Partition}@{m.Offset} key {m.KeyText} id {m.User!.Id}")));
        var badPartitions = own.Where(m => m.Partition != Murmur2Partitioner.Partition(m.Key, partitions)).Take(3).ToList();
        Assert.True(badPartitions.Count == 0, "partition is not murmur2(key): " + string.Join("; ", badPartitions.Select(m => $"key {m.KeyText} in {m.Partition}")));

        var duplicates = own.GroupBy(m => (m.User!.Id, m.User.UpdatedAt)).Where(g => g.Count() > 1).ToList();
        Assert.True(duplicates.Count == 0, $"{duplicates.Count} versions are in P_USERS more than once, e.g. " + string.Join("; ",
            duplicates.Take(5).Select(g => $"id {g.Key.Id} updated_at {Ts(g.Key.UpdatedAt)} at {string.Join(",", g.Select(m => $"{m.Partition}@{m.Offset}"))}")));

        var unknown = own.Where(m => !postgres.ContainsKey(m.User!.Id)).Select(m => m.User!.Id).Distinct().Take(5).ToList();
        Assert.True(unknown.Count == 0, "P_USERS holds ids PostgreSQL does not have: " + string.Join(", ", unknown));

        var latest = own.GroupBy(m => m.User!.Id).ToDictionary(g => g.Key, g => g.MaxBy(m => m.User!.UpdatedAt)!.User!);
        var missing = postgres.Keys.Where(id => !latest.ContainsKey(id)).Order().ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {postgres.Count} PostgreSQL rows never reached P_USERS, e.g. ids {string.Join(", ", missing.Take(10))}");
        var stale = postgres.Values.Where(u => latest[u.Id] != u).Take(5).ToList();
        Assert.True(stale.Count == 0, $"the newest version in P_USERS differs from PostgreSQL for {postgres.Values.Count(u => latest[u.Id] != u)} rows, e.g.\n" +
            string.Join("\n", stale.Select(u => Diff(u, latest[u.Id], "kafka"))));
    }

    /// <summary>Same ids, and every column equal (timestamps to the microsecond: DateTime compares ticks).</summary>
    public static void MySqlEqualsPostgres(IReadOnlyDictionary<long, UserRecord> mySql, IReadOnlyDictionary<long, UserRecord> postgres)
    {
        var missing = postgres.Keys.Where(id => !mySql.ContainsKey(id)).Order().ToList();
        var extra = mySql.Keys.Where(id => !postgres.ContainsKey(id)).Order().ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"MySQL has {mySql.Count} rows, PostgreSQL {postgres.Count}: missing in MySQL {missing.Count} (e.g. {string.Join(", ", missing.Take(10))}), " +
            $"not in PostgreSQL {extra.Count} (e.g. {string.Join(", ", extra.Take(10))})");
        var different = postgres.Values.Where(u => mySql[u.Id] != u).ToList();
        Assert.True(different.Count == 0, $"{different.Count} MySQL rows differ from PostgreSQL, e.g.\n" +
            string.Join("\n", different.Take(5).Select(u => Diff(u, mySql[u.Id], "mysql"))));
    }

    /// <summary>
    /// The bucket holds every valid message of the topic exactly once: per partition the objects never overlap, each
    /// starts where the previous one ended (the first at the low watermark, the last ends at the high watermark), and
    /// each object's lines are, in order and byte for byte, the valid values of its offset range with their private
    /// fields pseudonymised (Protection defaults) and their change metadata (docs/events.md, "Lake lines"), a delete line for a
    /// tombstone; invalid ones went to the DLQ instead.
    /// The only gaps allowed are runs of invalid messages: the sink writes no object holding nothing.
    /// </summary>
    public static void BucketHoldsTopicExactlyOnce(IReadOnlyList<SinkObject> objects, IReadOnlyList<TopicMessage> messages)
    {
        var byPartition = messages.GroupBy(m => m.Partition).ToDictionary(g => g.Key, g => g.ToDictionary(m => m.Offset));
        foreach (var o in objects)
            Assert.True(byPartition.ContainsKey(o.Partition), $"{o.Key}: partition {o.Partition} has no messages");

        long lines = 0;
        foreach (var (partition, atOffset) in byPartition)
        {
            var low = atOffset.Keys.Min();
            var high = atOffset.Keys.Max() + 1;
            var chain = objects.Where(o => o.Partition == partition).OrderBy(o => o.StartOffset).ToList();
            Assert.True(chain.Count > 0, $"partition {partition} ({high - low} messages) has no object");
            var expectedStart = low;
            foreach (var o in chain)
            {
                expectedStart = SkipInvalid(atOffset, expectedStart, o.StartOffset);
                Assert.True(o.StartOffset == expectedStart,
                    $"partition {partition}: {o.Key} starts at {o.StartOffset} but the previous object ended at {expectedStart} " +
                    (o.StartOffset < expectedStart ? "(overlap: records stored twice)" : "(gap: records missing)"));
                Assert.True(o.EndOffset > o.StartOffset, $"{o.Key}: end-offset {o.EndOffset} is not after its start");
                var expected = new List<JsonObject>();
                for (var offset = o.StartOffset; offset < o.EndOffset; offset++)
                {
                    Assert.True(atOffset.TryGetValue(offset, out var m), $"{o.Key} covers offset {offset}, beyond the partition's messages");
                    if (Line(m!) is { } line) expected.Add(line);
                }
                Assert.True(expected.Count == o.Lines.Count && expected.Zip(o.Lines).All(l => ExpectedLakeLines.Matches(l.First, l.Second)),
                    $"{o.Key} (offsets {o.StartOffset}-{o.EndOffset - 1}): {o.Lines.Count} lines differ from the {expected.Count} valid messages of its range; " +
                    $"first difference: {FirstDifference(expected, o.Lines)}");
                if (o.RecordCount is { } count)
                    Assert.True(count == o.Lines.Count, $"{o.Key}: record-count metadata {count} but {o.Lines.Count} lines");
                lines += o.Lines.Count;
                expectedStart = o.EndOffset;
            }
            expectedStart = SkipInvalid(atOffset, expectedStart, high);
            Assert.True(expectedStart == high, $"partition {partition}: objects end at offset {expectedStart}, the partition at {high}");
        }
        Assert.Equal(messages.Count(m => Line(m) is not null), lines);
    }

    private static readonly FieldProtector s_protector = KafkaPipeline.Tests.TestProtection.Protector;

    /// <summary>The line the S3 sink stores for a message (<see cref="ExpectedLakeLines"/>), or null when the message is dead-lettered.</summary>
    private static JsonObject? Line(TopicMessage m) =>
        m.User is not null || (m.Value is null && long.TryParse(m.KeyText, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0)
            ? ExpectedLakeLines.Users(m.User, m.KeyText, m.Headers, m.Partition, m.Offset, s_protector)
            : null;

    /// <summary>Moves past invalid (dead-lettered) messages from <paramref name="from"/>, at most up to <paramref name="limit"/>.</summary>
    private static long SkipInvalid(Dictionary<long, TopicMessage> atOffset, long from, long limit)
    {
        while (from < limit && atOffset.TryGetValue(from, out var m) && Line(m) is null) from++;
        return from;
    }

    private static string FirstDifference(IReadOnlyList<JsonObject> expected, IReadOnlyList<string> actual)
    {
        for (var i = 0; i < Math.Max(expected.Count, actual.Count); i++)
        {
            if (i < expected.Count && i < actual.Count && ExpectedLakeLines.Matches(expected[i], actual[i])) continue;
            var e = i < expected.Count ? ExpectedLakeLines.Canonical(expected[i]) : "<none>";
            var a = i < actual.Count ? actual[i] : "<none>";
            return $"line {i}: expected {e} but stored {a}";
        }
        return "none";
    }

    private static string Diff(UserRecord expected, UserRecord actual, string where)
    {
        var parts = new List<string>();
        void Check<T>(string column, T e, T a)
        {
            if (!EqualityComparer<T>.Default.Equals(e, a)) parts.Add($"{column}: postgres '{e}' {where} '{a}'");
        }
        Check("name", expected.Name, actual.Name);
        Check("username", expected.Username, actual.Username);
        Check("sex", expected.Sex, actual.Sex);
        Check("address", expected.Address, actual.Address);
        Check("mail", expected.Mail, actual.Mail);
        Check("birthdate", expected.Birthdate, actual.Birthdate);
        Check("job", expected.Job, actual.Job);
        Check("company", expected.Company, actual.Company);
        Check("ssn", expected.Ssn, actual.Ssn);
        Check("residence", expected.Residence, actual.Residence);
        Check("created_at", Ts(expected.CreatedAt), Ts(actual.CreatedAt));
        Check("updated_at", Ts(expected.UpdatedAt), Ts(actual.UpdatedAt));
        return $"  id {expected.Id}: " + string.Join("; ", parts);
    }

    private static string Ts(DateTime t) => t.ToString("yyyy-MM-dd HH:mm:ss.fffffff", CultureInfo.InvariantCulture);

    private static string Text(byte[]? value) =>
        value is null ? "<null>" : Encoding.UTF8.GetString(value.AsSpan(0, Math.Min(value.Length, 120)));
}
