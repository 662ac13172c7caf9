using System.Globalization;

namespace KafkaPipeline.Benchmarks;

/// <summary>
/// The correctness half of the benchmark: a sink that misses or doubles a user makes the run fail. Compares the ids
/// PostgreSQL holds with what Kafka, MySQL and the bucket hold, and the bucket's (partition, offset) coverage.
/// </summary>
public static class Verification
{
    public static List<string> Check(
        IReadOnlyCollection<long> postgresIds,
        long[] kafkaHighWatermarks,
        IReadOnlyCollection<MySqlRow> mysqlRows,
        IReadOnlyCollection<S3Object> s3Objects)
    {
        var failures = new List<string>();
        var expected = postgresIds.ToHashSet();

        var kafka = kafkaHighWatermarks.Sum();
        if (kafka != expected.Count)
            failures.Add($"Kafka holds {kafka} messages for {expected.Count} users in PostgreSQL ({(kafka > expected.Count ? "doubled" : "missing")} records)");

        var mysqlIds = mysqlRows.Select(r => r.Id).ToList();
        var mysqlSet = mysqlIds.ToHashSet();
        if (mysqlSet.Count != mysqlIds.Count)
            failures.Add($"MySQL holds {mysqlIds.Count} rows but {mysqlSet.Count} distinct ids (doubled users)");
        Compare("MySQL", expected, mysqlSet, failures);

        foreach (var o in s3Objects.Where(o => o.Ids is { } ids && ids.Count != o.ClaimedRecords))
            failures.Add($"S3 object {o.Key} holds {o.Ids!.Count} lines but its record-count metadata says {o.ClaimedRecords}");
        var lines = s3Objects.SelectMany(o => o.Ids ?? throw new InvalidOperationException($"object {o.Key} was not read")).ToList();
        var s3Set = lines.ToHashSet();
        if (s3Set.Count != lines.Count)
            failures.Add($"S3 holds {lines.Count} lines but {s3Set.Count} distinct ids: {lines.Count - s3Set.Count} users doubled");
        Compare("S3", expected, s3Set, failures);

        // Every offset of every partition exactly once: objects of a partition must not overlap and must cover
        // [0, high watermark). (No record is dead-lettered in a benchmark, so an object covers start .. start+lines-1.)
        foreach (var partition in s3Objects.GroupBy(o => o.Partition).OrderBy(g => g.Key))
        {
            long next = 0;
            foreach (var o in partition.OrderBy(o => o.StartOffset))
            {
                if (o.StartOffset < next)
                    failures.Add($"S3 partition {partition.Key}: object {o.Key} starts at offset {o.StartOffset}, but offsets up to {next - 1} are already stored (doubled offsets)");
                else if (o.StartOffset > next)
                    failures.Add($"S3 partition {partition.Key}: offsets {next}..{o.StartOffset - 1} are in no object (missed records)");
                next = Math.Max(next, o.StartOffset + o.Ids!.Count);
            }
            var high = partition.Key < kafkaHighWatermarks.Length ? kafkaHighWatermarks[partition.Key] : -1;
            if (next != high)
                failures.Add($"S3 partition {partition.Key}: objects end at offset {next}, Kafka's high watermark is {high}");
        }
        for (var p = 0; p < kafkaHighWatermarks.Length; p++)
        {
            if (kafkaHighWatermarks[p] > 0 && s3Objects.All(o => o.Partition != p))
                failures.Add($"S3 partition {p}: no object for its {kafkaHighWatermarks[p]} records");
        }
        return failures;
    }

    private static void Compare(string store, HashSet<long> expected, HashSet<long> actual, List<string> failures)
    {
        var missing = expected.Where(id => !actual.Contains(id)).ToList();
        var extra = actual.Where(id => !expected.Contains(id)).ToList();
        if (missing.Count > 0)
            failures.Add($"{store} misses {missing.Count} users (e.g. ids {string.Join(", ", missing.Order().Take(5).Select(i => i.ToString(CultureInfo.InvariantCulture)))})");
        if (extra.Count > 0)
            failures.Add($"{store} holds {extra.Count} ids PostgreSQL does not have (e.g. {string.Join(", ", extra.Order().Take(5).Select(i => i.ToString(CultureInfo.InvariantCulture)))})");
    }
}
