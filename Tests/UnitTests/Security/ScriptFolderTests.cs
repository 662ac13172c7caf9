using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace KafkaPipeline.UnitTests.Security;

/// <summary>
/// The scripts' data folders (eng/env.sh through eng/safe-dir.sh): root must not follow a symbolic link or use a folder
/// somebody else could swap. Runs bash as the scripts do (as root, like CI).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ScriptFolderTests : IDisposable
{
    private readonly DirectoryInfo _base = Directory.CreateTempSubdirectory("kp-safe-dir-");

    [Fact]
    public void A_symlinked_data_folder_is_refused_naming_it()
    {
        var target = Directory.CreateDirectory(Path.Combine(_base.FullName, "elsewhere"));
        var link = Path.Combine(_base.FullName, "data");
        File.CreateSymbolicLink(link, target.FullName);

        var (code, _, error) = SourceEnv(link);
        Assert.NotEqual(0, code);
        Assert.Contains($"{link} is a symbolic link", error, StringComparison.Ordinal);
        Assert.Empty(target.EnumerateFileSystemInfos()); // nothing made through the link
    }

    [Fact]
    public void A_data_folder_of_another_user_or_inside_a_folder_others_may_write_is_refused()
    {
        var theirs = Directory.CreateDirectory(Path.Combine(_base.FullName, "theirs"));
        Chown("nobody", theirs.FullName);
        var (code, _, error) = SourceEnv(theirs.FullName);
        Assert.NotEqual(0, code);
        Assert.Contains($"{theirs.FullName} belongs to nobody", error, StringComparison.Ordinal);

        var open = Directory.CreateDirectory(Path.Combine(_base.FullName, "open"));
        File.SetUnixFileMode(open.FullName, (UnixFileMode)Convert.ToInt32("1777", 8));
        (code, _, error) = SourceEnv(Path.Combine(open.FullName, "data"));
        Assert.NotEqual(0, code);
        Assert.Contains($"{open.FullName} may be written by other users", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_folder_is_made_with_the_mode_asked_and_a_good_one_is_accepted()
    {
        var data = Path.Combine(_base.FullName, "fresh", "test");
        var (code, output, error) = SourceEnv(data, "echo \"data=$KP_DATA_DIR\"");
        Assert.True(code == 0, error);
        Assert.Contains($"data={data}", output, StringComparison.Ordinal);
        Assert.Equal((UnixFileMode)Convert.ToInt32("711", 8), File.GetUnixFileMode(Path.GetDirectoryName(data)!));

        var (made, _, madeError) = Bash($"source {Quote(Path.Combine(Root(), "eng", "safe-dir.sh"))} && kp_safe_dir {Quote(Path.Combine(_base.FullName, "logs"))} 700");
        Assert.True(made == 0, madeError);
        Assert.Equal((UnixFileMode)Convert.ToInt32("700", 8), File.GetUnixFileMode(Path.Combine(_base.FullName, "logs")));
    }

    private static (int Code, string Output, string Error) SourceEnv(string dataDir, string then = "true") =>
        Bash($"export KP_PROFILE=test KP_DATA_DIR={Quote(dataDir)}; source {Quote(Path.Combine(Root(), "eng", "env.sh"))} && {then}");

    private static (int Code, string Output, string Error) Bash(string script)
    {
        var start = new ProcessStartInfo("bash", ["-c", script]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment.Remove("KP_ENV_PROFILE");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error.Result);
    }

    private static void Chown(string user, string path)
    {
        using var chown = Process.Start("chown", [user, path])!;
        chown.WaitForExit();
        Assert.Equal(0, chown.ExitCode);
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static string Root([CallerFilePath] string here = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));

    public void Dispose() => _base.Delete(recursive: true);
}
