using Confluent.Kafka;
using Confluent.Kafka.Admin;
using KafkaPipeline.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace KafkaPipeline.AppHost.Servers;

internal static class KafkaBuilderExtensions
{
    private const int BrokerPort = 9092;
    private const int InternalBrokerPort = 9093;

    /// <summary>
    /// containers: confluent-local with the listeners Aspire.Hosting.Kafka configures. The pipeline's topics are created
    /// once the broker answers (its auto-creation would give every topic the broker's default of one partition);
    /// services wait for that, as Aspire holds a WaitFor until the resource's ready handlers are done.
    /// </summary>
    public static IResourceBuilder<KafkaContainerResource> AddKafkaContainer(this IDistributedApplicationBuilder builder, string name,
        IReadOnlyList<PipelineTopic> topics)
    {
        var kafka = new KafkaContainerResource(name);
        return builder.AddResource(kafka)
            .WithImage(ServerImages.Kafka, ServerImages.KafkaTag)
            .WithEndpoint(targetPort: BrokerPort, name: KafkaContainerResource.PrimaryEndpointName)
            .WithEndpoint(targetPort: InternalBrokerPort, name: KafkaContainerResource.InternalEndpointName)
            .WithEnvironment(context =>
            {
                context.EnvironmentVariables["KAFKA_LISTENERS"] =
                    $"PLAINTEXT://localhost:29092,CONTROLLER://localhost:29093,PLAINTEXT_HOST://0.0.0.0:{BrokerPort},PLAINTEXT_INTERNAL://0.0.0.0:{InternalBrokerPort}";
                context.EnvironmentVariables["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] =
                    "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT,PLAINTEXT_INTERNAL:PLAINTEXT";
                // The host reaches the published port; other containers reach kafka:9093 on the container network.
                context.EnvironmentVariables["KAFKA_ADVERTISED_LISTENERS"] = context.ExecutionContext.IsRunMode
                    ? ReferenceExpression.Create($"PLAINTEXT://localhost:29092,PLAINTEXT_HOST://localhost:{kafka.PrimaryEndpoint.Property(EndpointProperty.Port)},PLAINTEXT_INTERNAL://{kafka.Name}:{kafka.InternalEndpoint.Property(EndpointProperty.TargetPort)}")
                    : ReferenceExpression.Create($"PLAINTEXT://{kafka.PrimaryEndpoint.Property(EndpointProperty.Host)}:29092,PLAINTEXT_HOST://{kafka.PrimaryEndpoint.Property(EndpointProperty.HostAndPort)},PLAINTEXT_INTERNAL://{kafka.InternalEndpoint.Property(EndpointProperty.HostAndPort)}");
            })
            .WithAnnotation(new PipelineTopicsAnnotation(topics))
            .OnResourceReady((resource, e, ct) => CreateTopicsAsync(resource, topics, e.Services, ct))
            .WithKafkaHealthCheck();
    }

    /// <summary>Creates the topics a real broker does not have yet (CreateTopics; an existing topic is left as it is).</summary>
    private static async Task CreateTopicsAsync(IKafkaServerResource kafka, IReadOnlyList<PipelineTopic> topics, IServiceProvider services, CancellationToken ct)
    {
        var log = services.GetRequiredService<ResourceLoggerService>().GetLogger(kafka);
        var bootstrap = await kafka.ConnectionStringExpression.GetValueAsync(ct);
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).SetLogHandler((_, _) => { }).Build();
        try
        {
            await admin.CreateTopicsAsync(topics.Select(t => new TopicSpecification { Name = t.Name, NumPartitions = t.Partitions, ReplicationFactor = 1 }));
        }
        catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
        {
            // Some existed already (a kept container): fine.
        }
        log.LogInformation("Topics {Topics} are there", string.Join(", ", topics));
    }

    /// <summary>Kafdrop on Kafka's internal listener (containers runtime).</summary>
    public static IResourceBuilder<ContainerResource> AddKafdrop(this IDistributedApplicationBuilder builder, string name,
        IResourceBuilder<KafkaContainerResource> kafka) =>
        builder.AddContainer(name, ServerImages.Kafdrop, ServerImages.KafdropTag)
            .WithHttpEndpoint(targetPort: 9000, name: "http")
            .WithEnvironment("KAFKA_BROKERCONNECT",
                ReferenceExpression.Create($"{kafka.Resource.Name}:{kafka.Resource.InternalEndpoint.Property(EndpointProperty.TargetPort)}"))
            .WithHttpHealthCheck("/actuator/health")
            .WaitFor(kafka);

    /// <summary>
    /// local: `dotnet EmbeddedKafka.dll` with the pipeline's topics, in memory (nothing under .data/ but its bootstrap
    /// file). The mock cluster answers no CreateTopics, so the program creates them as it starts.
    /// </summary>
    public static IResourceBuilder<EmbeddedKafkaResource> AddEmbeddedKafka(this IDistributedApplicationBuilder builder, string name, LocalServers local,
        IReadOnlyList<PipelineTopic> topics)
    {
        var kafka = new EmbeddedKafkaResource(name, "dotnet", local.DirectoryFor("kafka"));
        return builder.AddResource(kafka)
            .WithArgs(context =>
            {
                context.Args.Add(LocalServers.EmbeddedKafkaDll);
                context.Args.Add("--brokers");
                context.Args.Add("1");
                foreach (var topic in topics)
                {
                    context.Args.Add("--topic");
                    context.Args.Add(topic.ToString());
                }
                context.Args.Add("--bootstrap-file");
                context.Args.Add(kafka.BootstrapFile);
            })
            .OnBeforeResourceStarted((r, _, _) =>
            {
                Directory.CreateDirectory(r.WorkingDirectory);
                File.Delete(r.BootstrapFile); // a restarted cluster listens on new ports
                return Task.CompletedTask;
            })
            .WithAnnotation(new PipelineTopicsAnnotation(topics))
            .WithKafkaHealthCheck();
    }

    /// <summary>Healthy when a broker answers a metadata request on the resource's connection string.</summary>
    private static IResourceBuilder<T> WithKafkaHealthCheck<T>(this IResourceBuilder<T> kafka) where T : IKafkaServerResource
    {
        var healthKey = $"{kafka.Resource.Name}_check";
        kafka.ApplicationBuilder.Services.AddHealthChecks().AddAsyncCheck(healthKey, async ct =>
        {
            var bootstrap = await kafka.Resource.ConnectionStringExpression.GetValueAsync(ct);
            if (string.IsNullOrEmpty(bootstrap)) return HealthCheckResult.Unhealthy("Kafka has not published its bootstrap servers yet");
            return await Task.Run(() => new KafkaClients(bootstrap, NullLoggerFactory.Instance).CheckHealth(TimeSpan.FromSeconds(3)), ct);
        });
        return kafka.WithHealthCheck(healthKey);
    }
}
