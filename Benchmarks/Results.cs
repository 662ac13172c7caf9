namespace KafkaPipeline.Benchmarks;

/// <summary>One stage measured alone: <see cref="Items"/> units in <see cref="Seconds"/>.</summary>
public sealed record StageResult(string Name, string Unit, long Items, double Seconds, string How)
{
    public double PerSecond => Seconds > 0 ? Items / Seconds : 0;

    /// <summary>Users a second this stage can carry (for objects: objects/s x records per object).</summary>
    public double UsersPerSecond { get; init; }

    public double? MegabytesPerSecond { get; init; }

    /// <summary>Whether the backfill passes through this stage (its slowest such stage is the backfill's limit).</summary>
    public bool OnBackfillPath { get; init; } = true;
}

/// <summary>Latency percentiles in milliseconds (nearest rank).</summary>
public sealed record Percentiles(int Count, double P50, double P95, double P99, double Max)
{
    public static Percentiles? Of(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0) return null;
        var sorted = values.Order().ToArray();
        double At(double p) => sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new Percentiles(sorted.Length, Math.Round(At(50), 1), Math.Round(At(95), 1), Math.Round(At(99), 1), Math.Round(sorted[^1], 1));
    }
}

/// <summary>(seconds since the services started, users in the store).</summary>
public readonly record struct Sample(double Seconds, long Users);

public sealed record StoreFlow(
    string Store,
    long Users,
    double FirstAtSeconds,
    double LastAtSeconds,
    double UsersPerSecond,
    string How);

public sealed record BackfillResult(
    long Users,
    IReadOnlyList<StoreFlow> Flows,
    double SecondsUntilBothSinks,
    double SecondsFromFirstInKafkaUntilBothSinks,
    double EndToEndUsersPerSecond,
    string SlowestStage,
    double SlowestStageUsersPerSecond,
    double EndToEndRatioToSlowestStage,
    double MySqlRatioToSlowestStage,
    int S3Objects,
    double S3AverageObjectBytes,
    IReadOnlyList<Sample> KafkaSeries,
    IReadOnlyList<Sample> MySqlSeries,
    IReadOnlyList<Sample> S3Series);

public sealed record LatencyResult(
    double RatePerSecond,
    int Seconds,
    long Users,
    double GeneratedUsersPerSecond,
    Percentiles? PostgresToMySql,
    Percentiles? PostgresToS3,
    Percentiles? PostgresToKafka,
    Percentiles? KafkaToMySql,
    Percentiles? KafkaToS3);

/// <summary>PostgreSQL commit -> the customer count changing in a headless chromium page of the Dashboard.</summary>
public sealed record ScreenLatencyResult(double RatePerSecond, int Seconds, long Users, int Repaints, Percentiles? PostgresToScreen);

/// <summary>The Dashboard holding <see cref="Users"/> users: replay time, memory, and memory with event-stream clients.</summary>
public sealed record DashboardMemoryResult(
    long Users, double IdleRssMegabytes, double ReplaySeconds, double ReplayUsersPerSecond, double PeakRssMegabytes, double RssMegabytes,
    double? ManagedHeapMegabytes, int Browsers, double RssWithBrowsersMegabytes);
/// <summary>One source mode's figures, for the comparison of the Cdc source with the polling one in the same run.</summary>
public sealed record SourceComparison(string Mode, double BackfillIntoKafkaUsersPerSecond, IReadOnlyList<SourceLatency> Latency, string How);

/// <summary>PostgreSQL commit to the Kafka message's timestamp, at one rate.</summary>
public sealed record SourceLatency(double RatePerSecond, long Users, Percentiles? PostgresToKafka);

public sealed record MemoryResult(string Service, double PeakRssMegabytes, string When)
{
    /// <summary>CPU seconds (user + system) the process used in the same period, when measured.</summary>
    public double? CpuSeconds { get; init; }
}

/// <summary>Average bytes per record on the topic (uncompressed, as produced), over <see cref="Records"/> records.</summary>
public sealed record TopicRecordSize(int Records, double KeyBytes, double ValueBytes, double SchemaBytes, double HeaderBytes)
{
    public double TotalBytes => KeyBytes + ValueBytes + HeaderBytes;

    /// <summary>The same records produced again with the source's settings: bytes sent per record, uncompressed and with lz4.</summary>
    public double? WireBytesUncompressed { get; init; }
    public double? WireBytesLz4 { get; init; }
}

/// <summary>From <c>ALTER TABLE users ADD COLUMN</c> (and an update that sets it) to that value in MySQL and in the lake.</summary>
public sealed record SchemaChangeResult(string Statement, double ToMySqlMilliseconds, double? ToLakeMilliseconds);

/// <summary>
/// One backfill of <see cref="BackfillVariants"/>: rows/s into each store from the first record in Kafka until the store
/// held every row, the lake's bytes per user, and each service's peak memory and CPU.
/// </summary>
public sealed record VariantResult(
    string Label, string Tables, string Format, long Rows, double IntoKafkaRowsPerSecond, double IntoMySqlRowsPerSecond,
    double IntoS3RowsPerSecond, int LakeObjects, double LakeBytesPerUser, IReadOnlyList<MemoryResult> Services)
{
    public LakeQueryResult? LakeQuery { get; init; }
}

/// <summary>The lake command over a variant's bucket: seconds the first time (fetching every object) and the second (cached).</summary>
public sealed record LakeQueryResult(string Query, double FirstSeconds, double CachedSeconds);

public sealed record GoalResult(string Goal, bool? Met, string Measured, string Note);

public sealed record MachineInfo(string Cpu, int Cores, double MemoryGigabytes, string Os, string Runtime, string Commit)
{
    /// <summary>1-minute load average at the start and at the end: the machine is shared, this says how busy it was.</summary>
    public string LoadAverage { get; set; } = "";
}

public sealed record BenchmarkReport
{
    public required DateTime StartedUtc { get; init; }
    public required MachineInfo Machine { get; init; }
    public required string Command { get; init; }
    public required long Users { get; init; }
    public required int LatencySeconds { get; init; }
    public required IReadOnlyList<double> Rates { get; init; }
    public required string PostgresTime { get; init; }
    public string MySqlTime { get; init; } = "synced_at, set by MySQL (UTC_TIMESTAMP(6)) in the sink's INSERT";
    public string S3Time { get; set; } = "";
    public List<StageResult> Stages { get; } = [];
    public BackfillResult? Backfill { get; set; }
    public List<LatencyResult> Latency { get; } = [];
    public List<ScreenLatencyResult> ScreenLatency { get; } = [];
    public DashboardMemoryResult? DashboardMemory { get; set; }
    public List<SourceComparison> Sources { get; } = [];
    public List<MemoryResult> Memory { get; } = [];
    public TopicRecordSize? TopicRecordSize { get; set; }
    public SchemaChangeResult? SchemaChange { get; set; }
    public List<VariantResult> Variants { get; } = [];
    public List<GoalResult> Goals { get; } = [];
    public List<string> Failures { get; } = [];
    public bool Ok => Failures.Count == 0;
    public double TotalSeconds { get; set; }
    public string LogDir { get; init; } = "";
    public IReadOnlyDictionary<string, string> ServiceEnvironment { get; init; } = new Dictionary<string, string>();
}
