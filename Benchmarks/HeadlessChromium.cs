using Microsoft.Playwright;

namespace KafkaPipeline.Benchmarks;

/// <summary>
/// Debian's chromium (eng/install.sh) driven headless by Microsoft.Playwright: Playwright's own browser download cannot
/// work on our machines, so it is pointed at /usr/bin/chromium (or $KP_CHROMIUM) with the flags that work here.
/// Used by the benchmark (latency to a real page) and the browser tests.
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    private static readonly string[] s_flags =
    [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
    ];

    private readonly IPlaywright _playwright;
    private readonly IBrowserContext _context;
    private readonly string _profile;

    private HeadlessChromium(IPlaywright playwright, IBrowserContext context, string profile)
    {
        _playwright = playwright;
        _context = context;
        _profile = profile;
    }

    public static string Executable => Environment.GetEnvironmentVariable("KP_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    /// <summary>A fresh profile (--user-data-dir) per browser, a 1920x1080 window: a meeting room's screen.</summary>
    public static async Task<HeadlessChromium> LaunchAsync(int width = 1920, int height = 1080)
    {
        if (!File.Exists(Executable))
            throw new FileNotFoundException($"{Executable} is missing: eng/install.sh installs Debian's chromium (or set KP_CHROMIUM)");
        var playwright = await Playwright.CreateAsync();
        var profile = Directory.CreateTempSubdirectory("kp-chromium-").FullName;
        try
        {
            var context = await playwright.Chromium.LaunchPersistentContextAsync(profile, new BrowserTypeLaunchPersistentContextOptions
            {
                ExecutablePath = Executable,
                Headless = true,
                Args = s_flags,
                ViewportSize = new ViewportSize { Width = width, Height = height },
            });
            return new HeadlessChromium(playwright, context, profile);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A new tab; its console errors and uncaught exceptions go to <paramref name="log"/>. Navigation and waits without a
    /// timeout of their own get <paramref name="patience"/> (Playwright's 30 s default is too short on a loaded machine;
    /// a bound on a hang, not a speed).
    /// </summary>
    public async Task<IPage> NewPageAsync(Action<string> log, TimeSpan? patience = null)
    {
        var page = _context.Pages.Count == 1 && _context.Pages[0].Url == "about:blank" ? _context.Pages[0] : await _context.NewPageAsync();
        page.SetDefaultTimeout((float)(patience ?? TimeSpan.FromMinutes(2)).TotalMilliseconds);
        page.Console += (_, m) => { if (m.Type is "error" or "warning") log($"browser console {m.Type}: {m.Text}"); };
        page.PageError += (_, e) => log($"browser page error: {e}");
        return page;
    }

    /// <summary>Saves a screenshot of the window as a PNG file and returns its path.</summary>
    public static async Task<string> ScreenshotAsync(IPage page, string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path });
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        await _context.DisposeAsync();
        _playwright.Dispose();
        try { Directory.Delete(_profile, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
