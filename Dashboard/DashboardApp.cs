using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Customers;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.Dashboard;

/// <summary>
/// Builds the Dashboard (the shape every service shares): the CEO's live screen at / and the topic browser at /kafka/,
/// both fed from Kafka and both behind a login (<see cref="DashboardAuthentication"/>). Program.cs runs it; tests may
/// build it in-process.
/// </summary>
public static class DashboardApp
{
    /// <param name="configureServices">Extra registrations (tests), applied last.</param>
    public static WebApplication Create(string[] args, Action<IServiceCollection>? configureServices = null)
    {
        // The pages and npm assets are copied next to the program (Dashboard.csproj), wherever it runs from.
        var app = ServiceApplication.Create(args, AddApplicationServices, configureServices,
            new WebApplicationOptions { Args = args, WebRootPath = Path.Combine(AppContext.BaseDirectory, "wwwroot") });
        DashboardAuthentication.Use(app); // before the pages: every page, asset and API is behind it
        app.UseFileServer();
        app.MapDashboardApi();
        app.MapKafkaBrowserApi();
        return app;
    }

    /// <summary>Options, the customer state with its topic reader, the push loop and the topic browser.</summary>
    private static void AddApplicationServices(IHostApplicationBuilder builder)
    {
        builder.AddValidatedOptions<DashboardOptions>(DashboardOptions.Section);
        builder.AddValidatedOptions<PipelineOptions>(PipelineOptions.Section); // the tables whose topics the browser shows
        builder.AddValidatedOptions<ProtectionOptions>(ProtectionOptions.Section);
        DashboardAuthentication.AddTo(builder);
        builder.AddKafkaClients();

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddCustomerTopicReader(sp => sp.GetRequiredService<IOptions<DashboardOptions>>().Value.Topic);
        builder.Services.AddSingleton(_ => CountryCodes.Load(Path.Combine(AppContext.BaseDirectory, "countries")));
        builder.Services.AddSingleton<ICountryMap>(sp => sp.GetRequiredService<CountryCodes>()); // the screen's countries: ISO names or "other"
        builder.Services.AddSingleton<LiveUpdates>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LiveUpdates>());

        builder.Services.AddSingleton(sp => new KafkaBrowser(sp.GetRequiredService<KafkaClients>(),
            sp.GetRequiredService<IOptions<DashboardOptions>>().Value, sp.GetRequiredService<IOptions<PipelineOptions>>().Value,
            sp.GetRequiredService<IOptions<ProtectionOptions>>().Value, sp.GetRequiredService<ILogger<KafkaBrowser>>()));
    }
}
