using Microsoft.Extensions.Configuration;

namespace KafkaPipeline.AppHost;

/// <summary>
/// The Dashboard's login (Dashboard/DashboardAuthentication.cs, docs/security.md): a browser token and a wall-screen
/// token, secret parameters generated anew on every run (never stored), passed to the Dashboard and shown as its URLs
/// in the Aspire dashboard; the login URL also goes to the console, where ./run.sh prints it.
/// </summary>
internal static class DashboardLogin
{
    public static IResourceBuilder<ProjectResource> WithDashboardLogin(this IResourceBuilder<ProjectResource> dashboard, PipelineRuntime runtime)
    {
        var builder = dashboard.ApplicationBuilder;
        var mode = builder.Configuration["Dashboard:Authentication"] ?? "token";
        // Without a login only on this machine's loopback, which only the local runtime's `dotnet run` gives.
        if (mode == "none" && (runtime == PipelineRuntime.Containers || builder.ExecutionContext.IsPublishMode))
            throw new DistributedApplicationException("Dashboard:Authentication=none is for the local runtime only: under the containers " +
                "runtime and in a publish the Dashboard always asks for a login (token or oidc).");
        var browserToken = builder.AddParameter("dashboard-token", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true);
        var wallToken = builder.AddParameter("dashboard-wall-token", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true);
        dashboard.WithEnvironment("Dashboard__BrowserToken", browserToken).WithEnvironment("Dashboard__WallToken", wallToken);
        if (builder.ExecutionContext.IsPublishMode)
        {
            // The host names people reach it by (host filtering against DNS rebinding): the deployment's to say.
            dashboard.WithEnvironment("AllowedHosts", builder.AddParameter("dashboard-allowed-hosts"));
            return dashboard;
        }
        var printed = false;
        return dashboard.WithUrls(async context =>
        {
            var http = context.Urls.FirstOrDefault(u => u.Endpoint?.EndpointName == "http");
            if (http is null || mode == "none") return;
            var origin = http.Url.TrimEnd('/').Replace("://localhost:", "://127.0.0.1:", StringComparison.Ordinal);
            if (mode == "token")
            {
                var login = $"{origin}/login?t={await browserToken.Resource.GetValueAsync(context.CancellationToken)}";
                http.Url = login;
                http.DisplayText = "Dashboard (login)";
                if (!printed) Console.WriteLine($"AppHost: Dashboard login {login}");
            }
            var wall = $"{origin}/login?t={await wallToken.Resource.GetValueAsync(context.CancellationToken)}";
            context.Urls.Add(new ResourceUrlAnnotation { Url = wall, DisplayText = "Wall screen (CEO page only)", Endpoint = http.Endpoint });
            if (!printed) Console.WriteLine($"AppHost: Dashboard wall screen (CEO page only) {wall}");
            printed = true;
        });
    }
}
