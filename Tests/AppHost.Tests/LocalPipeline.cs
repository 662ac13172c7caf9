using System.Runtime.CompilerServices;

namespace KafkaPipeline.AppHost.Tests;

/// <summary>
/// The AppHost started with the local runtime on free ports and a data folder of its own (so it runs beside ./run.sh
/// and other test runs), as Aspire.Hosting.Testing starts it.
/// </summary>
internal sealed class LocalPipeline : IAsyncDisposable
{
    public static readonly string[] Resources = ["postgres", "usersdb", "mysql", "emaildb", "kafka", "s3", .. AppHostModel.Services];

    private LocalPipeline(DistributedApplication app, string dataDirectory)
    {
        App = app;
        DataDirectory = dataDirectory;
    }

    public DistributedApplication App { get; }

    public string DataDirectory { get; }

    public static async Task<LocalPipeline> StartAsync(bool dashboard, CancellationToken ct, params string[] args)
    {
        var data = Path.Combine(RepositoryRoot(), ".data", "apphost-tests", Guid.NewGuid().ToString("N")[..12]);
        string[] all =
        [
            "--AppHost:Runtime=local", "--LocalRuntime:PostgresPort=0", "--LocalRuntime:MySqlPort=0", "--LocalRuntime:S3Port=0",
            "--AppHost:DashboardPort=0",
            $"--LocalRuntime:DataDirectory={data}", .. args,
        ];
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
            new DistributedApplicationTestingBuilderOptions { EnableDashboard = dashboard }, all, ct);
        var app = await builder.BuildAsync(ct);
        var pipeline = new LocalPipeline(app, data);
        try
        {
            await app.StartAsync(ct);
            foreach (var name in Resources) await app.ResourceNotifications.WaitForResourceHealthyAsync(name, ct);
        }
        catch
        {
            await pipeline.DisposeAsync();
            throw;
        }
        return pipeline;
    }

    /// <summary>Process ids of every resource's process and of all their descendants, now.</summary>
    public HashSet<int> ProcessTree()
    {
        var roots = new List<int>();
        foreach (var name in Resources)
        {
            if (!App.ResourceNotifications.TryGetCurrentState(name, out var e)) continue;
            foreach (var p in e.Snapshot.Properties.Where(p => p.Name.EndsWith(".pid", StringComparison.Ordinal)))
                if (int.TryParse(p.Value?.ToString(), out var pid)) roots.Add(pid);
        }
        var children = Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0)
            .Where(pid => pid > 0)
            .Select(pid => (Pid: pid, Parent: ParentOf(pid)))
            .ToLookup(p => p.Parent, p => p.Pid);
        var all = new HashSet<int>();
        var queue = new Queue<int>(roots);
        while (queue.TryDequeue(out var pid))
        {
            if (!all.Add(pid)) continue;
            foreach (var child in children[pid]) queue.Enqueue(child);
        }
        return all;
    }

    public static bool Alive(int pid)
    {
        try
        {
            // Field 3 of /proc/<pid>/stat is the state; a zombie (Z) has ended.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].FirstOrDefault() != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The process id DCP reports for a resource (for a project: its `dotnet run` launcher).</summary>
    public int ProcessIdOf(string resource)
    {
        Assert.True(App.ResourceNotifications.TryGetCurrentState(resource, out var e), $"no state for {resource}");
        var pid = e.Snapshot.Properties.FirstOrDefault(p => p.Name.EndsWith(".pid", StringComparison.Ordinal))?.Value?.ToString();
        return int.TryParse(pid, out var id) ? id : throw new InvalidOperationException($"{resource} has no process id");
    }

    public static int ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException)
        {
            return 0;
        }
    }

    /// <summary>Stops the application (DCP stops every resource), then removes its data folder.</summary>
    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        for (var attempt = 0; attempt < 10 && Directory.Exists(DataDirectory); attempt++)
        {
            try
            {
                Directory.Delete(DataDirectory, recursive: true);
            }
            catch (IOException)
            {
                await Task.Delay(1000); // a server still writing its last file while it stops
            }
        }
    }

    public static string RepositoryRoot([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", ".."));
}
