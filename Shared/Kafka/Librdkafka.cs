using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KafkaPipeline.Shared;

/// <summary>
/// Makes every Kafka client of the process (Confluent.Kafka, and the embedded cluster's own P/Invoke) use one
/// librdkafka: the build that librdkafka.redist ships next to the application, never a system copy.
/// <para>
/// Why: on linux-x64 the redist's plain <c>librdkafka.so</c> needs <c>libsasl2.so.3</c>, which Debian 12 lacks, while its
/// <c>centos8-librdkafka.so</c> needs only glibc. And where Debian's librdkafka-dev is installed, the default lookup of
/// "librdkafka" finds its 2.0.2 through the <c>librdkafka.so</c> symlink, which the 2.x consumer cannot use. A
/// DllImport resolver on the Confluent.Kafka assembly maps "librdkafka" to the file chosen here (and "libdl", used
/// by its loader, to <c>libdl.so.2</c>, which has no unversioned link on Debian).
/// </para>
/// Runs by itself when this assembly loads; entry points that touch Confluent.Kafka first call <see cref="Use"/>.
/// Elsewhere than linux-x64 the runtime's own lookup is left alone.
/// </summary>
public static class Librdkafka
{
    private static readonly Lock s_gate = new();
    private static bool s_registered;
    private static IntPtr s_handle;
    private static string? s_path;

    /// <summary>The file loaded on linux-x64 (null elsewhere, or before the first Kafka call).</summary>
    public static string? LoadedPath => s_path;

#pragma warning disable CA2255 // a module initializer is exactly what is wanted: before any Kafka call of this process
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void OnLoad() => Use();

    /// <summary>Registers the resolver (idempotent, thread-safe).</summary>
    public static void Use()
    {
        lock (s_gate)
        {
            if (s_registered) return;
            try
            {
                NativeLibrary.SetDllImportResolver(typeof(Confluent.Kafka.Library).Assembly, Resolve);
            }
            catch (InvalidOperationException)
            {
                // Another copy of this code (an assembly that links it) registered first: same rules, fine.
            }
            s_registered = true;
        }
    }

    /// <summary>
    /// The handle of the chosen librdkafka, loading it on first use; IntPtr.Zero where the runtime's lookup applies
    /// (not linux-x64). Used by the embedded cluster's resolver so both share one copy.
    /// </summary>
    public static IntPtr Handle()
    {
        lock (s_gate)
        {
            if (s_handle != IntPtr.Zero || !IsLinuxX64) return s_handle;
            var tried = new List<string>();
            foreach (var path in Candidates())
            {
                if (!File.Exists(path)) continue;
                tried.Add(path);
                if (NativeLibrary.TryLoad(path, out s_handle))
                {
                    s_path = path;
                    return s_handle;
                }
            }
            throw new DllNotFoundException(
                "librdkafka: none of the librdkafka.redist builds next to the application could be loaded" +
                (tried.Count == 0 ? $" (none found under {AppContext.BaseDirectory}; is the librdkafka.redist package referenced?)" : $": {string.Join(", ", tried)}") +
                ". The system librdkafka is deliberately not used.");
        }
    }

    private static bool IsLinuxX64 => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    // The glibc-only build first; the plain one works where libsasl2.so.3 exists. Both layouts: a portable build keeps
    // runtimes/<rid>/native, a RID-specific publish puts the files next to the application.
    private static IEnumerable<string> Candidates()
    {
        var native = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
        foreach (var file in new[] { "centos8-librdkafka.so", "librdkafka.so" })
        {
            yield return Path.Combine(native, file);
            yield return Path.Combine(AppContext.BaseDirectory, file);
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) => name switch
    {
        "librdkafka" => Handle(),
        "libdl" when OperatingSystem.IsLinux() && NativeLibrary.TryLoad("libdl.so.2", out var libdl) => libdl,
        _ => IntPtr.Zero,
    };
}
