using System.Globalization;

namespace KafkaPipeline.Benchmarks;

/// <summary>What to run and against which servers. The benchmark creates its own database, bucket and topics on them.</summary>
public sealed record BenchmarkSettings
{
    /// <summary>Users inserted before the backfill (and the sample size of the stage limits, capped at <see cref="MaxStageSample"/>).</summary>
    public long Users { get; init; } = 200_000;

    /// <summary>Seconds of generated traffic per latency rate.</summary>
    public int LatencySeconds { get; init; } = 60;

    /// <summary>Users a second of the latency phases.</summary>
    public IReadOnlyList<double> Rates { get; init; } = [1, 100, 1000];

    /// <summary>Users a second of the screen-latency phases (PostgreSQL commit -> count on a Dashboard page).</summary>
    public IReadOnlyList<double> ScreenRates { get; init; } = [1, 100];

    /// <summary>Users of state for the Dashboard's memory figure (0: skipped).</summary>
    public long DashboardUsers { get; init; } = 1_000_000;

    /// <summary>Event-stream clients following the Dashboard during its memory figure.</summary>
    public int DashboardBrowsers { get; init; } = 200;

    public bool Quick { get; init; }

    /// <summary>The backfills that change one thing (a second table, Parquet), after the main phases.</summary>
    public bool Variants { get; init; } = true;

    public string? JsonPath { get; init; }

    /// <summary>Npgsql connection string of a user that may CREATE DATABASE (the benchmark creates kp_bench_*).</summary>
    public required string Postgres { get; init; }

    /// <summary>MySql.Data connection string of a user that may CREATE DATABASE.</summary>
    public required string MySql { get; init; }

    public required string S3Url { get; init; }
    public string S3AccessKey { get; init; } = "S3RVER";
    public string S3SecretKey { get; init; } = "S3RVER";

    /// <summary>
    /// s3rver's data folder (its -d argument). Its files' modification times are the store's own record of when each
    /// object was stored, with sub-millisecond precision; S3's LastModified from s3rver has whole seconds only.
    /// Null: LastModified is used (and the JSON says so).
    /// </summary>
    public string? S3DataDir { get; init; }

    /// <summary>eng/servers.sh's pid folder ($KP_DATA_DIR/pids): lets the report show the servers' CPU during the backfill.</summary>
    public string? ServersPidDir { get; init; }

    /// <summary>Where the services' output goes (one log file per process).</summary>
    public required string LogDir { get; init; }

    public int Partitions { get; init; } = 4;

    /// <summary>Extra environment for the service processes (experiments, e.g. DOTNET_gcServer=0); the report lists them.</summary>
    public IReadOnlyDictionary<string, string> ServiceEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>Longest wait for the sinks to hold every user of a phase.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(90);

    public const int MaxStageSample = 200_000;

    public int StageSample => (int)Math.Min(Users, MaxStageSample);

    public const string Usage = """
        usage: Benchmarks [--users N] [--latency-seconds S] [--rates 1,100,1000] [--quick] [--json PATH]
                          [--postgres CS] [--mysql CS] [--s3-url URL] [--s3-data-dir DIR] [--logs DIR]
          --users N            users in PostgreSQL before the backfill (default 200000; --quick: 20000)
          --latency-seconds S  seconds of traffic per latency rate (default 60; --quick: 10)
          --rates LIST         users/s of the latency phases (default 1,100,1000)
          --quick              small run, under 3 minutes in all
          --json PATH          also write the figures as JSON
          --postgres/--mysql/--s3-url  servers (default: KP_POSTGRES_CS, KP_MYSQL_CS, KP_S3_URL from eng/env.sh)
          --s3-data-dir DIR    s3rver's data folder, for sub-second stored times (default: $KP_DATA_DIR/s3/objects)
          --logs DIR           service logs (default: a new folder under /tmp)
          --service-env K=V    extra environment variable for the service processes, repeatable (experiments only;
                               e.g. DOTNET_gcServer=0 or MySqlSink__StatementRows=100); the report lists them
          --rates none         skip the latency phases
          --screen-rates LIST  users/s of the Dashboard screen-latency phases (default 1,100; none = skip)
          --dashboard-users N  users of state for the Dashboard's memory figure (default 1000000; --quick: 100000; 0 = skip)
          --variants on|off    the backfills with a second table and in Parquet, each on storage of its own (default on)
        """;

    /// <summary>Parses the command line; environment variables of eng/env.sh supply the servers.</summary>
    public static BenchmarkSettings Parse(string[] args, Func<string, string?> env)
    {
        long? users = null;
        int? seconds = null;
        double[]? rates = null, screenRates = null;
        long? dashboardUsers = null;
        bool quick = false, variants = true;
        var serviceEnv = new Dictionary<string, string>(StringComparer.Ordinal);
        string? json = null, pg = null, my = null, s3 = null, s3Dir = null, logs = null;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg == "--quick")
            {
                quick = true;
                continue;
            }
            if (i + 1 >= args.Length) throw new ArgumentException($"{arg} needs a value (or is unknown)");
            var value = args[++i];
            switch (arg)
            {
                case "--users": users = ParseLong(arg, value, 1, 100_000_000); break;
                case "--latency-seconds": seconds = (int)ParseLong(arg, value, 1, 3600); break;
                case "--rates" when value == "none":
                    rates = [];
                    break;
                case "--rates":
                    rates = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(r => double.TryParse(r, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d is > 0 and <= 100_000
                            ? d : throw new ArgumentException($"--rates: '{r}' is not a rate between 0 and 100000"))
                        .ToArray();
                    break;
                case "--screen-rates" when value == "none":
                    screenRates = [];
                    break;
                case "--screen-rates":
                    screenRates = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(r => double.TryParse(r, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d is > 0 and <= 1000
                            ? d : throw new ArgumentException($"--screen-rates: '{r}' is not a rate between 0 and 1000"))
                        .ToArray();
                    break;
                case "--variants" when value is "on" or "off": variants = value == "on"; break;
                case "--dashboard-users": dashboardUsers = ParseLong(arg, value, 0, 10_000_000); break;
                case "--json": json = value; break;
                case "--postgres": pg = value; break;
                case "--mysql": my = value; break;
                case "--s3-url": s3 = value; break;
                case "--s3-data-dir": s3Dir = value; break;
                case "--logs": logs = value; break;
                case "--service-env":
                    var eq = value.IndexOf('=', StringComparison.Ordinal);
                    if (eq <= 0) throw new ArgumentException($"--service-env must be KEY=VALUE, got '{value}'");
                    serviceEnv[value[..eq]] = value[(eq + 1)..];
                    break;
                default: throw new ArgumentException($"unknown argument '{arg}'");
            }
        }
        pg ??= env("KP_POSTGRES_CS") ?? throw new ArgumentException("no PostgreSQL: pass --postgres or source eng/env.sh (KP_POSTGRES_CS)");
        my ??= env("KP_MYSQL_CS") ?? throw new ArgumentException("no MySQL: pass --mysql or source eng/env.sh (KP_MYSQL_CS)");
        s3 ??= env("KP_S3_URL") ?? throw new ArgumentException("no S3: pass --s3-url or source eng/env.sh (KP_S3_URL)");
        var pidDir = env("KP_DATA_DIR") is { Length: > 0 } d && Directory.Exists(Path.Combine(d, "pids")) ? Path.Combine(d, "pids") : null;
        if (s3Dir is null && env("KP_DATA_DIR") is { Length: > 0 } dataDir && Directory.Exists(Path.Combine(dataDir, "s3", "objects")))
            s3Dir = Path.Combine(dataDir, "s3", "objects");
        return new BenchmarkSettings
        {
            Users = users ?? (quick ? 20_000 : 200_000),
            LatencySeconds = seconds ?? (quick ? 10 : 60),
            Rates = rates ?? [1, 100, 1000],
            ScreenRates = screenRates ?? [1, 100],
            DashboardUsers = dashboardUsers ?? (quick ? 100_000 : 1_000_000),
            Quick = quick,
            Variants = variants,
            JsonPath = json,
            Postgres = pg,
            MySql = my,
            S3Url = s3,
            S3DataDir = s3Dir,
            S3AccessKey = env("KP_S3_ACCESS_KEY") ?? "S3RVER",
            S3SecretKey = env("KP_S3_SECRET_KEY") ?? "S3RVER",
            ServiceEnvironment = serviceEnv,
            ServersPidDir = pidDir,
            LogDir = logs ?? Path.Combine(Path.GetTempPath(), $"kp-bench-logs-{DateTime.UtcNow:yyyyMMdd-HHmmss}"),
        };
    }

    private static long ParseLong(string arg, string value, long min, long max) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{arg} must be a whole number from {min} to {max}, got '{value}'");
}
