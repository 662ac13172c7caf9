using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace KafkaPipeline.AppHost.Servers;

/// <summary>What the local runtime's executables share: the start-up checks, data folders and running as a server user.</summary>
internal static class LocalProcesses
{
    private const string MarkerFile = ".kafkapipeline-data"; // only a folder carrying it is ever wiped

    /// <summary>
    /// Before anything starts: every program the local runtime needs exists (else the AppHost stops at once, naming it
    /// and the command that installs it), and the data folder is ready (emptied when FreshData: Kafka lives in memory,
    /// so databases kept from an earlier run would be out of step with it).
    /// </summary>
    public static void PrepareLocalServers(this IDistributedApplicationBuilder builder, LocalServers local) =>
        builder.Eventing.Subscribe<BeforeStartEvent>((_, _) =>
        {
            CheckInstalled(local);
            PrepareDataDirectory(local);
            return Task.CompletedTask;
        });

    public static void CheckInstalled(LocalServers local)
    {
        var missing = new List<string>();
        void Need(string what, string path, string install)
        {
            if (!File.Exists(path)) missing.Add($"{what} ({path}): install it with {install}");
        }
        Need("PostgreSQL server", Path.Combine(local.PostgresBin, "postgres"), "eng/install.sh (apt-get install postgresql)");
        Need("PostgreSQL initdb", Path.Combine(local.PostgresBin, "initdb"), "eng/install.sh (apt-get install postgresql)");
        Need("MariaDB server", local.MariaDbServer, "eng/install.sh (apt-get install mariadb-server)");
        Need("mariadb-install-db", local.MariaDbInstall, "eng/install.sh (apt-get install mariadb-server)");
        Need("node", local.Node, "apt-get install nodejs");
        Need("s3rver", local.S3rverScript, "eng/install.sh (npm ci in eng/s3)");
        Need("EmbeddedKafka", LocalServers.EmbeddedKafkaDll, "dotnet build AppHost");
        if (LocalServers.RunningAsRoot) Need("setpriv", "/usr/bin/setpriv", "apt-get install util-linux");
        if (missing.Count > 0)
            throw new DistributedApplicationException(
                "The local runtime cannot start; missing: " + string.Join("; ", missing) +
                $". (Or run the containers runtime: {PipelineRuntimes.Setting}=containers.)");
    }

    private static void PrepareDataDirectory(LocalServers local)
    {
        var dir = local.DataDirectory;
        // The servers run as postgres/mysql/nobody: every folder above their data must be enterable by others.
        for (var d = Path.GetDirectoryName(dir); LocalServers.RunningAsRoot && !string.IsNullOrEmpty(d); d = Path.GetDirectoryName(d))
        {
            if (Directory.Exists(d) && !OperatingSystem.IsWindows() && (File.GetUnixFileMode(d) & UnixFileMode.OtherExecute) == 0)
                throw new DistributedApplicationException(
                    $"{d} cannot be entered by the server users (postgres, mysql, nobody): set {LocalServers.Section}:DataDirectory to a folder they can reach, e.g. /var/tmp/kafkapipeline.");
        }
        if (Directory.Exists(dir) && local.FreshData)
        {
            if (!File.Exists(Path.Combine(dir, MarkerFile)) && Directory.EnumerateFileSystemEntries(dir).Any())
                throw new DistributedApplicationException($"{dir} exists but was not made by the AppHost (no {MarkerFile}): refusing to empty it.");
            Directory.Delete(dir, recursive: true);
        }
        Directory.CreateDirectory(dir);
        SetMode(dir, (UnixFileMode)0b111_101_101);
        File.WriteAllText(Path.Combine(dir, MarkerFile), "");
    }

    /// <summary>A folder owned by <paramref name="user"/> (mode 700): a server's data, socket or log.</summary>
    public static string OwnedDirectory(string path, string user)
    {
        Directory.CreateDirectory(path);
        if (LocalServers.RunningAsRoot)
        {
            var (uid, gid) = ServerUser(user);
            SetMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Chown(path, uid, gid);
        }
        return path;
    }

    /// <summary>A file readable by <paramref name="user"/> alone (mode 600), e.g. one holding a password.</summary>
    public static void OwnedFile(string path, string user)
    {
        SetMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        if (!LocalServers.RunningAsRoot) return;
        var (uid, gid) = ServerUser(user);
        Chown(path, uid, gid);
    }

    /// <summary>Command and arguments that run <paramref name="program"/> as <paramref name="user"/> when the AppHost is root.</summary>
    public static (string Command, string[] Args) AsUser(string user, string program, params string[] args)
    {
        if (!LocalServers.RunningAsRoot || user == "root") return (program, args);
        var (uid, gid) = ServerUser(user);
        return ("/usr/bin/setpriv", [$"--reuid={uid}", $"--regid={gid}", "--init-groups", "--", program, .. args]);
    }

    /// <summary>Runs a set-up program (initdb, mariadb-install-db) to its end; its output goes to the resource's log.</summary>
    public static async Task RunAsync(string user, string program, string[] args, ILogger log, CancellationToken ct)
    {
        var (command, fullArgs) = AsUser(user, program, args);
        var start = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in fullArgs) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new DistributedApplicationException($"could not start {program}");
        var output = Task.WhenAll(Pump(process.StandardOutput), Pump(process.StandardError));
        await process.WaitForExitAsync(ct);
        await output;
        if (process.ExitCode != 0)
            throw new DistributedApplicationException($"{Path.GetFileName(program)} failed with exit code {process.ExitCode} (see the resource's log)");

        async Task Pump(StreamReader reader)
        {
            while (await reader.ReadLineAsync(ct) is { } line) log.LogInformation("{Line}", line);
        }
    }

    // uid and primary gid from /etc/passwd (setpriv wants numbers for --regid).
    private static (int Uid, int Gid) ServerUser(string user)
    {
        foreach (var line in File.ReadLines("/etc/passwd"))
        {
            var f = line.Split(':');
            if (f.Length > 3 && f[0] == user) return (int.Parse(f[2]), int.Parse(f[3]));
        }
        throw new DistributedApplicationException($"user {user} does not exist: install the server packages with eng/install.sh");
    }

    // The local runtime runs on Linux (Debian's servers); modes do not exist elsewhere.
    private static void SetMode(string path, UnixFileMode mode)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, mode);
    }

    private static void Chown(string path, int uid, int gid)
    {
        using var chown = Process.Start("/bin/chown", [$"{uid}:{gid}", path]);
        chown.WaitForExit();
        if (chown.ExitCode != 0) throw new DistributedApplicationException($"chown {uid}:{gid} {path} failed");
    }
}
