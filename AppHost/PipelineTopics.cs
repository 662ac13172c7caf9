using KafkaPipeline.Shared;

namespace KafkaPipeline.AppHost;

/// <summary>A topic the pipeline's Kafka holds before any service starts.</summary>
public sealed record PipelineTopic(string Name, int Partitions)
{
    /// <summary>"NAME:PARTITIONS", as the embedded Kafka's --topic takes it.</summary>
    public override string ToString() => $"{Name}:{Partitions}";
}

/// <summary>The topics a Kafka resource is given: each table's topic and its dead-letter topic.</summary>
public sealed record PipelineTopicsAnnotation(IReadOnlyList<PipelineTopic> Topics) : IResourceAnnotation;

/// <summary>Pipeline:Tables in the AppHost: validated once, handed to the services, turned into topics.</summary>
internal static class PipelineTopics
{
    /// <summary>Each table's topic, keyed by the row's key over this many partitions.</summary>
    public const int TablePartitions = 4;

    /// <summary>Each dead-letter topic (a trickle of records the sinks could not take).</summary>
    public const int DeadLetterPartitions = 1;

    /// <summary>Pipeline:Tables (default users); a bad value stops the AppHost naming the setting.</summary>
    public static PipelineOptions PipelineTables(this IDistributedApplicationBuilder builder)
    {
        var options = new PipelineOptions { Tables = builder.Configuration[$"{PipelineOptions.Section}:{nameof(PipelineOptions.Tables)}"] ?? "users" };
        var problems = options.Validate(PipelineOptions.Section).ToList();
        if (problems.Count > 0) throw new DistributedApplicationException(string.Join(" ", problems));
        return options;
    }

    /// <summary>
    /// The topics of the tables as the source names them: its own Source:TopicPrefix (default P_), the one setting that
    /// decides what it writes.
    /// </summary>
    public static IReadOnlyList<PipelineTopic> Topics(this IDistributedApplicationBuilder builder, PipelineOptions tables)
    {
        var prefix = builder.Configuration["Source:TopicPrefix"] ?? "P_";
        return [.. tables.TableList.Select(t => t.Topic(prefix))
            .SelectMany(topic => new[] { new PipelineTopic(topic, TablePartitions), new PipelineTopic(TopicNames.DeadLetter(topic), DeadLetterPartitions) })];
    }

    /// <summary>Pipeline__Tables for a service that reads it (the source, the sinks, the Monitor, the Dashboard).</summary>
    public static IResourceBuilder<ProjectResource> WithPipelineTables(this IResourceBuilder<ProjectResource> service, PipelineOptions tables) =>
        service.WithEnvironment($"{PipelineOptions.Section}__{nameof(PipelineOptions.Tables)}", string.Join(",", tables.TableList));
}
