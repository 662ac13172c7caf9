namespace KafkaPipeline.Shared;

/// <summary>
/// librdkafka settings a service passes through from configuration (like Kafka Connect's consumer.override.*). Only
/// tuning is allowed: settings the pipeline's guarantees rest on are refused, and so is every setting that makes
/// librdkafka load code (plugins, OpenSSL engines and providers), run a command (Kerberos kinit) or read files
/// (keys, certificates, keytabs), so that whoever can set configuration cannot make the process do more than consume.
/// </summary>
public static class LibrdkafkaOverrides
{
    private static readonly HashSet<string> s_owned = new(StringComparer.OrdinalIgnoreCase)
    {
        "bootstrap.servers", "group.id", "enable.auto.commit", "enable.auto.offset.store", "isolation.level", "client.id",
    };

    // Suffixes and names (after lower-casing and '_' -> '.') of settings that name a file, a command or code to load.
    private static readonly string[] s_fileSuffixes = [".location", ".locations", ".file", ".cmd", ".path", ".paths", ".keytab", ".stores"];

    /// <summary>Messages naming each refused key, e.g. "S3Sink:ConsumerOverrides:plugin.library.paths is refused: ...".</summary>
    public static IEnumerable<string> Validate(string setting, IReadOnlyDictionary<string, string>? overrides)
    {
        foreach (var (key, value) in overrides ?? new Dictionary<string, string>())
        {
            if (s_owned.Contains(key))
                yield return $"{setting}:{key} cannot be overridden (the sink's correctness or its other settings depend on it).";
            else if (LoadsCodeOrTouchesFiles(key))
                yield return $"{setting}:{key} is refused: it makes librdkafka load code, run a command or use files of this machine.";
            else if (string.IsNullOrWhiteSpace(value))
                yield return $"{setting}:{key} needs a value.";
        }
    }

    public static bool LoadsCodeOrTouchesFiles(string key)
    {
        var k = key.Trim().ToLowerInvariant().Replace('_', '.');
        return k.Contains("plugin", StringComparison.Ordinal) || k.StartsWith("ssl.engine", StringComparison.Ordinal)
            || k is "ssl.providers" || k.Contains("kinit", StringComparison.Ordinal)
            || s_fileSuffixes.Any(s => k.EndsWith(s, StringComparison.Ordinal));
    }
}
