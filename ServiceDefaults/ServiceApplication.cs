using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.Extensions.Hosting;

/// <summary>The shape every service shares: service defaults, the service's own registrations, the default endpoints.</summary>
public static class ServiceApplication
{
    /// <param name="args">Command-line arguments (settings as <c>--Section:Key=value</c>).</param>
    /// <param name="addApplicationServices">The service's own registrations.</param>
    /// <param name="configureServices">Extra registrations (tests add log capture or wrap a service), applied last.</param>
    /// <param name="options">Builder options when the service needs more than its arguments (e.g. a web root).</param>
    public static WebApplication Create(string[] args, Action<IHostApplicationBuilder> addApplicationServices,
        Action<IServiceCollection>? configureServices = null, WebApplicationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(addApplicationServices);
        var builder = WebApplication.CreateBuilder(options ?? new WebApplicationOptions { Args = args });
        builder.AddServiceDefaults();
        addApplicationServices(builder);
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.MapDefaultEndpoints();
        return app;
    }
}
