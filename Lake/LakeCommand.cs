using System.Diagnostics;
using DuckDB.NET.Data;
using KafkaPipeline.Shared;
using Microsoft.Extensions.Configuration;

namespace KafkaPipeline.Lake;

/// <summary>
/// <c>Lake sql "&lt;query&gt;" [--as-of &lt;timestamp|LSN&gt;] [--format table|csv|json] [--cache-dir &lt;dir&gt;]
/// [--topics-dir &lt;dir&gt;] [--ConnectionStrings:s3=&lt;connection string&gt;]</c>: results to stdout, progress and
/// messages to stderr. The store is <c>ConnectionStrings:s3</c> (argument or environment, as the S3 sink reads it);
/// without one, the lake ./run.sh serves.
/// </summary>
public static class LakeCommand
{
    /// <summary>The lake ./run.sh serves (docs/getting-started.md): s3rver's local development keys.</summary>
    public const string DefaultConnectionString = "Endpoint=http://127.0.0.1:4566;Bucket=users-lake;AccessKey=S3RVER;SecretKey=S3RVER";

    public const string Usage = """
        usage: Lake sql "<query>" [--as-of <timestamp|LSN>] [--format table|csv|json] [--cache-dir <dir>] [--topics-dir <dir>]
                        [--ConnectionStrings:s3=Endpoint=...;Bucket=...;AccessKey=...;SecretKey=...]
          views per topic: <table>_changes (every event, in commit order) and <table> (the current rows); docs/lake.md
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct = default)
    {
        string query;
        AsOf? asOf = null;
        var format = LakeOutput.Format.Table;
        string? cacheDir = null;
        var topicsDir = "topics";
        var settings = new List<string>();
        try
        {
            if (args.Length < 2 || args[0] != "sql") throw new ArgumentException("expected: sql \"<query>\"");
            query = args[1];
            for (var i = 2; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--as-of": asOf = AsOf.Parse(Value()); break;
                    case "--format": format = LakeOutput.Parse(Value()); break;
                    case "--cache-dir": cacheDir = Value(); break;
                    case "--topics-dir": topicsDir = Value(); break;
                    default:
                        if (!args[i].StartsWith("--", StringComparison.Ordinal) || !args[i].Contains('=', StringComparison.Ordinal))
                            throw new ArgumentException($"unknown argument '{args[i]}'");
                        settings.Add(args[i]);
                        break;
                }
            }
        }
        catch (ArgumentException e)
        {
            await stderr.WriteLineAsync($"lake: {e.Message}\n{Usage}");
            return 2;
        }

        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine([.. settings]).Build();
        var s3Options = new S3Options();
        try
        {
            s3Options.ApplyConnectionString(configuration.GetConnectionString(ConnectionNames.S3) is { Length: > 0 } cs ? cs : DefaultConnectionString);
            var problems = s3Options.Validate($"ConnectionStrings:{ConnectionNames.S3}").ToList();
            if (problems.Count > 0) throw new InvalidOperationException(string.Join(" ", problems));
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            await stderr.WriteLineAsync($"lake: {e.Message}");
            return 2;
        }

        var clock = Stopwatch.StartNew();
        using var s3 = s3Options.CreateClient();
        var cache = new LakeCache(s3, s3Options.Bucket, topicsDir, cacheDir ?? LakeCache.DefaultFolder(s3Options.ServiceUrl, s3Options.Bucket), stderr);
        List<CachedObject> objects;
        try
        {
            objects = await cache.FetchAsync(ct);
        }
        catch (Amazon.Runtime.AmazonServiceException e)
        {
            await stderr.WriteLineAsync($"lake: cannot list s3://{s3Options.Bucket}/{topicsDir}/ at {s3Options.ServiceUrl ?? "AWS"}: {e.Message}");
            return 1;
        }
        catch (HttpRequestException e)
        {
            await stderr.WriteLineAsync($"lake: cannot reach {s3Options.ServiceUrl ?? "AWS"} ({e.Message}); is ./run.sh running, or is ConnectionStrings:s3 set?");
            return 1;
        }

        using var db = new DuckDBConnection("DataSource=:memory:");
        db.Open();
        var views = new LakeViews(db, stderr);
        views.Define(objects, asOf);
        await stderr.WriteLineAsync($"lake: {objects.Count} objects of s3://{s3Options.Bucket}/{topicsDir}/; views: " +
            (views.Tables.Count == 0 ? "none (the lake is empty)" : string.Join(", ", views.Tables.Values.SelectMany(t => new[] { t, t + "_changes" }))) +
            (asOf is null ? "" : $"; as of {(asOf.Lsn is null ? asOf.Time!.Value.ToString("O", System.Globalization.CultureInfo.InvariantCulture) : "LSN " + args[Array.IndexOf(args, "--as-of") + 1])}"));
        try
        {
            using var cmd = db.CreateCommand();
            cmd.CommandText = query;
            using var reader = cmd.ExecuteReader();
            var rows = LakeOutput.Write(reader, format, stdout);
            await stdout.FlushAsync(ct);
            await stderr.WriteLineAsync($"lake: {rows} rows in {clock.Elapsed.TotalSeconds:0.00} s");
            return 0;
        }
        catch (DuckDBException e)
        {
            await stderr.WriteLineAsync($"lake: the query failed: {e.Message}");
            return 1;
        }
    }
}
