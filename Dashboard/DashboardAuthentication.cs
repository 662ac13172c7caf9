using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.Dashboard;

/// <summary>What a signed-in person may open: everything, or the CEO page only (a wall screen).</summary>
public enum DashboardGrant
{
    Full,
    Wall,
}

/// <summary>
/// Who may see the Dashboard, like the Aspire dashboard does it: in <c>token</c> mode a login URL with a browser token
/// (<c>/login?t=...</c>) sets a cookie; the wall-screen token's URL sets one that opens only the CEO page. In <c>oidc</c>
/// mode an OpenID Connect provider signs people in (the wall-screen token still works when one is configured). In
/// <c>none</c> mode only connections from this machine are let in, and only when the Dashboard listens on loopback.
/// Every page, asset and API is behind it but /login, /health and /alive. A cookie is tied to the token it was issued
/// for: a new token (a new run) turns the old cookies away.
/// </summary>
public sealed class DashboardAuthentication
{
    public const string GrantClaim = "kafkapipeline.dashboard.grant";
    private const string TokenClaim = "kafkapipeline.dashboard.token";
    private const string CookieName = "KafkaPipeline.Dashboard";

    private readonly string _mode;
    private readonly string? _browserToken;
    private readonly string? _wallToken;
    private readonly bool _browserTokenGenerated;
    private readonly bool _wallTokenGenerated;

    public DashboardAuthentication(DashboardOptions options)
    {
        _mode = options.Authentication;
        (_browserToken, _browserTokenGenerated) = _mode == AuthenticationModes.Token ? TokenOrNew(options.BrowserToken) : (null, false);
        (_wallToken, _wallTokenGenerated) = _mode == AuthenticationModes.Token ? TokenOrNew(options.WallToken)
            : _mode == AuthenticationModes.Oidc && !string.IsNullOrEmpty(options.WallToken) ? (options.WallToken, false) : (null, false);
    }

    public string Mode => _mode;

    /// <summary>
    /// Authentication (the cookie, and OpenID Connect in <c>oidc</c> mode), the default of AllowedHosts, and the check
    /// that <c>none</c> is used on loopback only.
    /// </summary>
    public static void AddTo(IHostApplicationBuilder builder)
    {
        // Host filtering (DNS rebinding): a deployment names its own host names; by default only this machine's.
        if (string.IsNullOrWhiteSpace(builder.Configuration["AllowedHosts"]))
            builder.Configuration.AddInMemoryCollection([new("AllowedHosts", "localhost;127.0.0.1;[::1]")]);
        var urls = ListenUrls(builder.Configuration);
        builder.Services.AddSingleton<IValidateOptions<DashboardOptions>>(new LoopbackOnlyForNone(urls));
        builder.Services.AddSingleton(sp => new DashboardAuthentication(sp.GetRequiredService<IOptions<DashboardOptions>>().Value));

        var auth = builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(o =>
            {
                o.Cookie.Name = CookieName;
                o.Cookie.HttpOnly = true;
                // Lax: the login link is opened from another page (a terminal, the Aspire dashboard); every API is a GET
                // that changes nothing, and a cross-site fetch does not carry the cookie.
                o.Cookie.SameSite = SameSiteMode.Lax;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.ExpireTimeSpan = TimeSpan.FromDays(7);
                o.SlidingExpiration = true;
                // The gate below answers for itself (401 for APIs, the login page for pages): no redirects here.
                o.Events.OnRedirectToLogin = c => { c.Response.StatusCode = StatusCodes.Status401Unauthorized; return Task.CompletedTask; };
                o.Events.OnRedirectToAccessDenied = c => { c.Response.StatusCode = StatusCodes.Status403Forbidden; return Task.CompletedTask; };
                o.Events.OnValidatePrincipal = c =>
                {
                    var self = c.HttpContext.RequestServices.GetRequiredService<DashboardAuthentication>();
                    if (!self.IsCurrent(c.Principal)) c.RejectPrincipal();
                    return Task.CompletedTask;
                };
            });
        var dashboard = builder.Configuration.GetSection(DashboardOptions.Section);
        if (dashboard["Authentication"] == AuthenticationModes.Oidc)
        {
            var oidc = dashboard.GetSection("Oidc").Get<OidcOptions>() ?? new OidcOptions();
            auth.AddOpenIdConnect(o =>
            {
                o.Authority = oidc.Authority;
                o.ClientId = oidc.ClientId;
                o.ClientSecret = oidc.ClientSecret;
                o.RequireHttpsMetadata = oidc.RequireHttpsMetadata;
                o.ResponseType = "code";
                o.UsePkce = true;
                o.MapInboundClaims = false;
                o.SaveTokens = false;
                o.SignInScheme = CookieAuthenticationDefaults.AuthenticationScheme;
                foreach (var scope in oidc.Scopes) o.Scope.Add(scope);
                o.Events.OnTokenValidated = c =>
                {
                    var identity = (ClaimsIdentity)c.Principal!.Identity!;
                    if (!string.IsNullOrWhiteSpace(oidc.RequiredClaimType)
                        && !identity.HasClaim(x => x.Type == oidc.RequiredClaimType && x.Value == oidc.RequiredClaimValue))
                    {
                        c.Fail($"the user lacks the claim Dashboard:Oidc:RequiredClaimType '{oidc.RequiredClaimType}'");
                        return Task.CompletedTask;
                    }
                    identity.AddClaim(new Claim(GrantClaim, nameof(DashboardGrant.Full)));
                    return Task.CompletedTask;
                };
            });
        }
    }

    /// <summary>The login route, the sign-out route, the gate in front of everything else and security headers.</summary>
    public static void Use(WebApplication app)
    {
        var self = app.Services.GetRequiredService<DashboardAuthentication>();
        app.Use((context, next) =>
        {
            var headers = context.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer"; // the login URL carries a token
            return next(context);
        });
        app.UseAuthentication();
        app.Use((context, next) => self.GateAsync(context, next));
        app.MapGet("/login", (HttpContext context, string? t) => self.LoginAsync(context, t));
        app.MapGet("/logout", async (HttpContext context) =>
        {
            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return Results.Redirect("/login");
        });
        app.Lifetime.ApplicationStarted.Register(() => self.LogLoginUrls(app));
    }

    /// <summary>What a request needs: nothing (login, health), the full grant (the topic browser) or any grant.</summary>
    public static DashboardGrant? Required(PathString path) =>
        path.Equals("/login") || path.StartsWithSegments("/health") || path.StartsWithSegments("/alive")
            || path.StartsWithSegments("/signin-oidc") || path.StartsWithSegments("/signout-callback-oidc") ? null
        : path.StartsWithSegments("/kafka") || path.StartsWithSegments("/api/kafka") ? DashboardGrant.Full
        : DashboardGrant.Wall;

    /// <summary>The grant of the request's user, if any.</summary>
    public DashboardGrant? GrantOf(HttpContext context)
    {
        if (_mode == AuthenticationModes.None)
            return context.Connection.RemoteIpAddress is { } ip && IPAddress.IsLoopback(ip) ? DashboardGrant.Full : null;
        return context.User.FindFirst(GrantClaim)?.Value switch
        {
            nameof(DashboardGrant.Full) => DashboardGrant.Full,
            nameof(DashboardGrant.Wall) => DashboardGrant.Wall,
            _ => null,
        };
    }

    private async Task GateAsync(HttpContext context, RequestDelegate next)
    {
        var required = Required(context.Request.Path);
        var grant = GrantOf(context);
        if (required is null || grant == DashboardGrant.Full || (grant == DashboardGrant.Wall && required == DashboardGrant.Wall))
        {
            await next(context);
            return;
        }
        var api = context.Request.Path.StartsWithSegments("/api");
        if (grant is not null)
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            await context.Response.WriteAsJsonAsync(new { error = "this link opens the CEO page only (a wall screen): log in with the Dashboard's login URL for the topic browser" });
            return;
        }
        if (api || _mode == AuthenticationModes.None)
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            await context.Response.WriteAsJsonAsync(new { error = "log in first: open the Dashboard's login URL (/login?t=<token>)" });
            return;
        }
        if (_mode == AuthenticationModes.Oidc)
        {
            await context.ChallengeAsync(OpenIdConnectDefaults.AuthenticationScheme,
                new AuthenticationProperties { RedirectUri = context.Request.Path + context.Request.QueryString });
            return;
        }
        context.Response.Redirect("/login");
    }

    private async Task<IResult> LoginAsync(HttpContext context, string? token)
    {
        if (_mode == AuthenticationModes.None) return Results.Redirect("/");
        var grant = Match(token);
        if (grant is null)
        {
            if (_mode == AuthenticationModes.Oidc && string.IsNullOrEmpty(token))
            {
                await context.ChallengeAsync(OpenIdConnectDefaults.AuthenticationScheme, new AuthenticationProperties { RedirectUri = "/" });
                return Results.Empty;
            }
            context.Response.Headers.CacheControl = "no-store";
            return Results.Content(LoginPage(string.IsNullOrEmpty(token) ? null : "That token is not valid."), "text/html; charset=utf-8",
                statusCode: string.IsNullOrEmpty(token) ? StatusCodes.Status200OK : StatusCodes.Status401Unauthorized);
        }
        var identity = new ClaimsIdentity(
            [new Claim(GrantClaim, grant.Value.ToString()), new Claim(TokenClaim, Fingerprint(token!))],
            CookieAuthenticationDefaults.AuthenticationScheme);
        await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity),
            new AuthenticationProperties { IsPersistent = true });
        return Results.Redirect("/"); // the token leaves the address bar
    }

    private DashboardGrant? Match(string? token)
    {
        if (string.IsNullOrEmpty(token)) return null;
        if (_browserToken is not null && FixedTimeEquals(token, _browserToken)) return DashboardGrant.Full;
        if (_wallToken is not null && FixedTimeEquals(token, _wallToken)) return DashboardGrant.Wall;
        return null;
    }

    /// <summary>A cookie issued for a token stands while that token is the current one; an OpenID Connect sign-in has none.</summary>
    private bool IsCurrent(ClaimsPrincipal? principal)
    {
        if (principal is null) return false;
        var grant = principal.FindFirst(GrantClaim)?.Value;
        var fingerprint = principal.FindFirst(TokenClaim)?.Value;
        if (fingerprint is null) return _mode == AuthenticationModes.Oidc && grant == nameof(DashboardGrant.Full);
        var current = grant == nameof(DashboardGrant.Full) ? _browserToken : grant == nameof(DashboardGrant.Wall) ? _wallToken : null;
        return current is not null && FixedTimeEquals(fingerprint, Fingerprint(current));
    }

    private void LogLoginUrls(WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("KafkaPipeline.Dashboard.Login");
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var origin = (addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.Ordinal)) ?? addresses.FirstOrDefault() ?? "http://localhost")
            .Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal).Replace("://[::]", "://127.0.0.1", StringComparison.Ordinal)
            .TrimEnd('/');
        switch (_mode)
        {
            case AuthenticationModes.None:
                logger.LogWarning("Dashboard:Authentication=none: no login; only connections from this machine are let in, and the Dashboard listens on loopback only ({Origin})", origin);
                break;
            case AuthenticationModes.Oidc:
                logger.LogInformation("Dashboard: people sign in with OpenID Connect at {Origin}/login", origin);
                break;
            default:
                // Like the Aspire dashboard: a generated token is printed so that whoever started the process can log in.
                if (_browserTokenGenerated) logger.LogInformation("Login to the Dashboard at {Origin}/login?t={Token}", origin, _browserToken);
                else logger.LogInformation("Login to the Dashboard at {Origin}/login?t=<Dashboard:BrowserToken>", origin);
                break;
        }
        if (_wallToken is not null)
        {
            if (_wallTokenGenerated) logger.LogInformation("Wall screen (the CEO page only) at {Origin}/login?t={Token}", origin, _wallToken);
            else logger.LogInformation("Wall screen (the CEO page only) at {Origin}/login?t=<Dashboard:WallToken>", origin);
        }
    }

    private static (string Token, bool Generated) TokenOrNew(string? configured) =>
        string.IsNullOrEmpty(configured) ? (Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), true) : (configured, false);

    private static string Fingerprint(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)))[..32];

    private static bool FixedTimeEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));

    private static string LoginPage(string? message) => $$"""
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>Dashboard · log in</title>
          <link rel="icon" href="data:,">
          <style>
            body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #0b1220; color: #e2e8f0;
                   font: 16px/1.5 system-ui, sans-serif; }
            form { background: #111a2e; border: 1px solid #1e293b; border-radius: 12px; padding: 32px; width: min(440px, 90vw); }
            h1 { font-size: 20px; margin: 0 0 8px; }
            p { color: #94a3b8; margin: 0 0 16px; font-size: 14px; }
            input { width: 100%; box-sizing: border-box; padding: 10px 12px; border-radius: 8px; border: 1px solid #334155;
                    background: #0b1220; color: #e2e8f0; font: inherit; }
            button { margin-top: 16px; padding: 10px 16px; border: 0; border-radius: 8px; background: #14b8a6; color: #042f2e;
                     font: inherit; font-weight: 600; cursor: pointer; }
            .error { color: #fca5a5; }
          </style>
        </head>
        <body>
          <form method="get" action="/login" data-testid="login">
            <h1>Log in to the Dashboard</h1>
            <p>Open the login URL printed at start (./run.sh, or the Dashboard's URL in the Aspire dashboard), or paste its token here.</p>
            {{(message is null ? "" : $"<p class=\"error\" data-testid=\"login-error\">{WebUtility.HtmlEncode(message)}</p>")}}
            <input name="t" type="password" autocomplete="off" placeholder="token" aria-label="token" autofocus>
            <button type="submit">Log in</button>
          </form>
        </body>
        </html>
        """;

    /// <summary>The URLs Kestrel will listen on, from the settings it reads (urls, the port settings, Kestrel endpoints).</summary>
    private static List<string> ListenUrls(IConfiguration configuration)
    {
        var urls = new List<string>();
        if (configuration["urls"] is { Length: > 0 } list) urls.AddRange(list.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        else
        {
            foreach (var key in new[] { "http_ports", "https_ports" })
            {
                if (configuration[key] is { Length: > 0 } ports) urls.AddRange(ports.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(p => $"http://*:{p.Trim()}"));
            }
        }
        foreach (var endpoint in configuration.GetSection("Kestrel:Endpoints").GetChildren())
        {
            if (endpoint["Url"] is { Length: > 0 } url) urls.Add(url);
        }
        return urls;
    }

    private static bool IsLoopback(string url)
    {
        if (!Uri.TryCreate(url.Replace("://*", "://wildcard", StringComparison.Ordinal).Replace("://+", "://wildcard", StringComparison.Ordinal),
                UriKind.Absolute, out var uri)) return false;
        return uri.IsLoopback; // "localhost", 127.0.0.0/8 and [::1]
    }

    /// <summary>none is allowed only on loopback: the check at start, naming the setting.</summary>
    private sealed class LoopbackOnlyForNone(List<string> urls) : IValidateOptions<DashboardOptions>
    {
        public ValidateOptionsResult Validate(string? name, DashboardOptions options)
        {
            if (options.Authentication != AuthenticationModes.None) return ValidateOptionsResult.Success;
            var open = urls.Where(u => !IsLoopback(u)).ToList();
            return open.Count == 0
                ? ValidateOptionsResult.Success
                : ValidateOptionsResult.Fail($"{DashboardOptions.Section}:Authentication=none is allowed only when the Dashboard listens on " +
                    $"loopback addresses only, and it would listen on {string.Join(", ", open)}: use token or oidc.");
        }
    }
}
