using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Customers;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.Dashboard;

public static class DashboardServices
{
    /// <summary>Options, the customer state with its topic reader, the push loop and the topic browser.</summary>
    public static IHostApplicationBuilder AddDashboard(this IHostApplicationBuilder builder)
    {
        builder.AddValidatedOptions<DashboardOptions>(DashboardOptions.Section);
        builder.AddValidatedOptions<ProtectionOptions>(ProtectionOptions.Section);
        var kafka = ConnectionNames.Require(builder.Configuration, ConnectionNames.Kafka);
        builder.Services.AddHealthChecks().AddKafka(kafka);

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<CustomerTally>();
        builder.Services.AddSingleton(sp => new CustomerTopicReader(kafka,
            sp.GetRequiredService<IOptions<DashboardOptions>>().Value.Topic,
            sp.GetRequiredService<CustomerTally>(), sp.GetRequiredService<ILogger<CustomerTopicReader>>()));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<CustomerTopicReader>());
        builder.Services.AddSingleton(_ => CountryCodes.Load(Path.Combine(AppContext.BaseDirectory, "countries")));
        builder.Services.AddSingleton<LiveUpdates>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LiveUpdates>());

        builder.Services.AddSingleton(sp => new KafkaBrowser(kafka, sp.GetRequiredService<IOptions<DashboardOptions>>().Value,
            sp.GetRequiredService<IOptions<ProtectionOptions>>().Value, sp.GetRequiredService<ILogger<KafkaBrowser>>()));
        return builder;
    }
}
