using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace KafkaPipeline.EmbeddedKafka;

internal sealed record ProgramOptions(int Brokers, IReadOnlyList<(string Name, int Partitions)> Topics, string? BootstrapFile, bool Help);

/// <summary>Hand-parsed arguments of the EmbeddedKafka program (three options do not need a parser library).</summary>
internal static class CommandLine
{
    internal static bool TryParse(string[] args, [NotNullWhen(true)] out ProgramOptions? options, [NotNullWhen(false)] out string? error)
    {
        options = null;
        var brokers = 1;
        var topics = new List<(string, int)>();
        string? bootstrapFile = null;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg is "-h" or "--help")
            {
                options = new ProgramOptions(brokers, topics, bootstrapFile, Help: true);
                error = null;
                return true;
            }
            if (arg is not ("--brokers" or "--topic" or "--bootstrap-file"))
            {
                error = $"unknown argument '{arg}'";
                return false;
            }
            if (i + 1 >= args.Length)
            {
                error = $"{arg} needs a value";
                return false;
            }
            var value = args[++i];
            switch (arg)
            {
                case "--brokers":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out brokers) || brokers is < 1 or > 100)
                    {
                        error = $"--brokers must be a number from 1 to 100, got '{value}'";
                        return false;
                    }
                    break;
                case "--topic":
                    var colon = value.LastIndexOf(':');
                    var name = colon < 0 ? value : value[..colon];
                    if (colon < 0 || !IsTopicName(name)
                        || !int.TryParse(value[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var partitions)
                        || partitions is < 1 or > 10_000)
                    {
                        error = $"--topic must be NAME:PARTITIONS (name of [A-Za-z0-9._-], 1..10000 partitions), got '{value}'";
                        return false;
                    }
                    if (topics.Exists(t => t.Item1 == name))
                    {
                        error = $"topic '{name}' given twice";
                        return false;
                    }
                    topics.Add((name, partitions));
                    break;
                default:
                    if (value.Length == 0)
                    {
                        error = "--bootstrap-file needs a path";
                        return false;
                    }
                    bootstrapFile = value;
                    break;
            }
        }
        options = new ProgramOptions(brokers, topics, bootstrapFile, Help: false);
        error = null;
        return true;
    }

    // Kafka's own rule for topic names.
    private static bool IsTopicName(string name) =>
        name.Length is > 0 and <= 249 && name is not ("." or "..")
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}
