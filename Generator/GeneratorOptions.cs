using KafkaPipeline.Shared;

namespace KafkaPipeline.Generator;

/// <summary>Settings "Generator:*".</summary>
public sealed class GeneratorOptions : IValidatedOptions
{
    public const string Section = "Generator";

    /// <summary>PostgreSQL table to write (created when missing).</summary>
    public string Table { get; set; } = "users";

    /// <summary>New users a second. The tutorial's 1/s by default; tens of thousands for a backfill.</summary>
    public double RatePerSecond { get; set; } = 1;

    /// <summary>Stop after this many new users (tests, benchmarks); null runs until stopped.</summary>
    public long? TotalCount { get; set; }

    /// <summary>Share of existing users updated per new user (0..1), so update capture can be shown.</summary>
    public double UpdateFraction { get; set; }

    /// <summary>Most rows in one insert transaction (binary COPY).</summary>
    public int MaxBatchSize { get; set; } = 5000;

    /// <summary>How often the summary line is logged.</summary>
    public TimeSpan SummaryInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Fixed seed for reproducible fake data; null for a random one.</summary>
    public int? Seed { get; set; }

    public IEnumerable<string> Validate(string section)
    {
        foreach (var m in UsersSchema.Validate($"{section}:Table", Table)) yield return m;
        foreach (var m in Check.Range($"{section}:RatePerSecond", RatePerSecond, 0.001, 1_000_000)) yield return m;
        foreach (var m in Check.Range($"{section}:UpdateFraction", UpdateFraction, 0, 1)) yield return m;
        foreach (var m in Check.Range($"{section}:MaxBatchSize", MaxBatchSize, 1, 100_000)) yield return m;
        foreach (var m in Check.Positive($"{section}:SummaryInterval", SummaryInterval)) yield return m;
        if (TotalCount is < 0) yield return $"{section}:TotalCount must not be negative (got {TotalCount}).";
    }
}
