namespace KafkaPipeline.ServiceDefaults;

/// <summary>
/// Names of the one ActivitySource and the one Meter every service of the pipeline uses.
/// ServiceDefaults subscribes to exactly these names, so services must create theirs with them.
/// </summary>
public static class TelemetryNames
{
    public const string ActivitySource = "KafkaPipeline";
    public const string Meter = "KafkaPipeline";
}
