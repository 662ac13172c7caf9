using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KafkaPipeline.Shared.Customers;

public static class CustomerViewServices
{
    /// <summary>
    /// The customer state (<see cref="CustomerTally"/>) and the hosted <see cref="CustomerTopicReader"/> that keeps it from
    /// the topic: the Dashboard's and the Monitor's live views.
    /// </summary>
    public static IServiceCollection AddCustomerTopicReader(this IServiceCollection services, Func<IServiceProvider, string> topic)
    {
        services.AddSingleton<CustomerTally>();
        services.AddSingleton(sp => new CustomerTopicReader(sp.GetRequiredService<KafkaClients>(), topic(sp),
            sp.GetRequiredService<CustomerTally>(), sp.GetRequiredService<ILogger<CustomerTopicReader>>()));
        services.AddHostedService(sp => sp.GetRequiredService<CustomerTopicReader>());
        return services;
    }
}
