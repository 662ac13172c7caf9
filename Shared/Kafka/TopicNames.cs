namespace KafkaPipeline.Shared;

/// <summary>Names of the topic the source writes and the sinks read: {TopicPrefix}{TABLE}, e.g. P_USERS.</summary>
public static class TopicNames
{
    public static string ForTable(string prefix, string table) => prefix + table.ToUpperInvariant();

    public static string DeadLetter(string topic) => topic + ".dlq";
}
