using System.Globalization;
using KafkaPipeline.IntegrationTests.Pipeline;
using KafkaPipeline.Shared;

namespace KafkaPipeline.IntegrationTests.Cdc;

/// <summary>The CDC source's promise, checked on the topic's real contents against PostgreSQL's audit of what committed.</summary>
public static class ChangeLogAssert
{
    /// <summary>
    /// Every message is a well-formed change event (key = id, murmur2 partition, op header matching the value, LSN and
    /// time headers); no event is there twice; per id, the topic holds exactly the committed changes in commit order,
    /// after at most one snapshot row ("r", first) equal to the row as it was at the snapshot; and replaying the topic
    /// per key gives the PostgreSQL table. Returns the number of snapshot rows.
    /// </summary>
    public static int TopicHoldsEachCommittedChangeOnce(
        IReadOnlyList<TopicMessage> topic, IReadOnlyDictionary<long, List<CommittedChange>> audit, IReadOnlyDictionary<long, UserRecord> table)
    {
        var events = new Dictionary<long, List<(TopicMessage Message, string Op)>>();
        // An event is (commit LSN, change LSN, index): the snapshot's rows carry the consistent point as commit LSN and change
        // LSN 0, and the first streamed transaction may commit exactly at the consistent point with indexes from 0 too.
        var positions = new HashSet<(ulong, ulong, long)>();
        foreach (var m in topic.OrderBy(m => m.Partition).ThenBy(m => m.Offset))
        {
            var where = $"{m.Partition}@{m.Offset} (key {m.KeyText})";
            Assert.True(long.TryParse(m.KeyText, NumberStyles.None, CultureInfo.InvariantCulture, out var id), $"{where}: the key is not an id");
            Assert.True(m.Partition == Murmur2Partitioner.Partition(m.Key, PipelineHarness.Partitions), $"{where}: not in partition murmur2(key)");
            var op = ChangeHeaders.ReadOp(m.Headers);
            Assert.True(op is ChangeOp.Create or ChangeOp.Update or ChangeOp.Delete or ChangeOp.Read, $"{where}: op header '{op}'");
            Assert.True((op == ChangeOp.Delete) == (m.Value is null), $"{where}: op {op} with {(m.Value is null ? "no value" : "a value")}");
            if (m.Value is not null) Assert.True(m.User?.Id == id, $"{where}: the value is not the user with this id");
            var version = ChangeHeaders.ReadVersion(m.Headers);
            var index = ChangeHeaders.ReadTxIndex(m.Headers);
            Assert.True(version.HasLsn && index is not null && ChangeHeaders.ReadCommitTime(m.Headers) is not null, $"{where}: LSN, index or commit time header missing");
            Assert.True(positions.Add((version.CommitLsn, version.ChangeLsn, index!.Value)), $"{where}: event {version}#{index} is in the topic twice");
            if (!events.TryGetValue(id, out var list)) events[id] = list = [];
            list.Add((m, op!));
        }

        var wrong = new List<string>();
        var snapshotRows = 0;
        foreach (var id in events.Keys.Union(audit.Keys).Order())
        {
            var e = events.GetValueOrDefault(id) ?? [];
            var a = audit.GetValueOrDefault(id) ?? [];
            var snapshot = e.Count > 0 && e[0].Op == ChangeOp.Read;
            if (snapshot) snapshotRows++;
            var streamed = snapshot ? e.Skip(1).ToList() : e;
            if (streamed.Any(x => x.Op == ChangeOp.Read))
            {
                wrong.Add($"id {id}: a snapshot row after its first event");
                continue;
            }
            // Where the stream starts in the audit: after the changes the snapshot row already shows (or none).
            var starts = Enumerable.Range(0, a.Count + 1).Where(k => snapshot
                ? k > 0 && a[k - 1].User == e[0].Message.User
                : k == 0 || a[k - 1].Op == ChangeOp.Delete);
            if (!starts.Any(k => Matches(a.Skip(k).ToList(), streamed)))
                wrong.Add($"id {id}:\n    topic: {string.Join(" ", e.Select(x => Describe(x.Op, x.Message.User)))}\n    audit: {string.Join(" ", a.Select(x => Describe(x.Op, x.User)))}");
        }
        Assert.True(wrong.Count == 0, $"{wrong.Count} ids do not hold their committed changes exactly once, in order, e.g.\n" + string.Join("\n", wrong.Take(5)));

        ReplayEqualsTable(topic, table);
        return snapshotRows;
    }

    /// <summary>
    /// The topic without stale repeats: events a partition already holds at an equal or later stream position of the same
    /// epoch (what a source that was frozen past its lease can still deliver when it wakes; readers skip them by position).
    /// </summary>
    public static List<TopicMessage> WithoutStaleRepeats(IReadOnlyList<TopicMessage> topic, out int repeats)
    {
        var kept = new List<TopicMessage>();
        var newest = new Dictionary<(int Partition, KafkaPipeline.Shared.Contract.SourceEpoch Epoch), (ulong, long)>();
        repeats = 0;
        foreach (var m in topic.OrderBy(m => m.Partition).ThenBy(m => m.Offset))
        {
            var version = ChangeHeaders.ReadVersion(m.Headers);
            if (version.ChangeLsn != 0 && ChangeHeaders.ReadTxIndex(m.Headers) is { } index)
            {
                var key = (m.Partition, ChangeHeaders.ReadEpoch(m.Headers));
                var position = (version.CommitLsn, index);
                if (newest.TryGetValue(key, out var last) && position.CompareTo(last) <= 0)
                {
                    repeats++;
                    continue;
                }
                newest[key] = position;
            }
            kept.Add(m);
        }
        return kept;
    }

    /// <summary>The newest event of each key, tombstones removing the key, gives exactly the PostgreSQL table.</summary>
    public static void ReplayEqualsTable(IReadOnlyList<TopicMessage> topic, IReadOnlyDictionary<long, UserRecord> table)
    {
        var replay = new Dictionary<long, UserRecord>();
        foreach (var m in topic.OrderBy(m => m.Partition).ThenBy(m => m.Offset))
        {
            var id = long.Parse(m.KeyText, CultureInfo.InvariantCulture);
            if (m.Value is null) replay.Remove(id);
            else replay[id] = m.User ?? throw new Xunit.Sdk.XunitException($"{m.Partition}@{m.Offset}: not a user record");
        }
        var missing = table.Keys.Where(id => !replay.ContainsKey(id)).Order().ToList();
        var extra = replay.Keys.Where(id => !table.ContainsKey(id)).Order().ToList();
        var different = table.Values.Where(u => replay.TryGetValue(u.Id, out var r) && r != u).Select(u => u.Id).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0 && different.Count == 0,
            $"replaying the topic gives {replay.Count} rows, PostgreSQL has {table.Count}: missing {missing.Count} (e.g. {string.Join(", ", missing.Take(10))}), " +
            $"deleted in PostgreSQL but live in the topic {extra.Count} (e.g. {string.Join(", ", extra.Take(10))}), different {different.Count} (e.g. {string.Join(", ", different.Take(10))})");
    }

    private static bool Matches(IReadOnlyList<CommittedChange> audit, IReadOnlyList<(TopicMessage Message, string Op)> streamed) =>
        audit.Count == streamed.Count && audit.Zip(streamed).All(p => p.First.Op == p.Second.Op && p.First.User == p.Second.Message.User);

    private static string Describe(string op, UserRecord? user) =>
        user is null ? op : $"{op}({user.UpdatedAt:HH:mm:ss.ffffff} {user.Job})";
}
