using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using KafkaPipeline.Shared;

namespace KafkaPipeline.UnitTests.Docs;

/// <summary>
/// docs/configuration.md stays true: every public settable property of every services' options class (the classes bound
/// to a section, <see cref="IValidatedOptions"/> with a <c>Section</c> constant, and the classes nested in them) has a
/// row <c>| `Section:Key` | default | ... |</c> whose default is the property's default. A setting added without a row,
/// or a default changed without the page, fails here.
/// </summary>
public sealed partial class ConfigurationPageTests
{
    // The services' assemblies (the options classes of the AppHost are documented by hand: it reads its settings itself).
    private static readonly Assembly[] s_assemblies =
    [
        typeof(PipelineOptions).Assembly, typeof(Generator.GeneratorOptions).Assembly, typeof(SourceService.SourceOptions).Assembly,
        typeof(MySqlSinkService.MySqlSinkOptions).Assembly, typeof(S3SinkService.S3SinkOptions).Assembly,
        typeof(global::KafkaPipeline.Dashboard.DashboardOptions).Assembly, typeof(global::KafkaPipeline.Monitor.MonitorOptions).Assembly,
    ];

    [Fact]
    public void Every_setting_of_every_options_class_is_on_the_configuration_page_with_its_default()
    {
        var page = DocumentedSettings(File.ReadAllText(PagePath()));
        var problems = new List<string>();
        foreach (var (setting, type, value) in Settings())
        {
            if (!page.TryGetValue(setting, out var defaultCell))
                problems.Add($"{setting} is not on docs/configuration.md (add a row: | `{setting}` | {Expected(value)} | what it does |)");
            else if (!ShowsDefault(defaultCell, type, value))
                problems.Add($"{setting}: docs/configuration.md gives the default '{defaultCell}', the code {Expected(value)}");
        }
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void The_settings_are_found_in_every_section_the_services_bind()
    {
        var sections = Settings().Select(s => s.Setting[..s.Setting.IndexOf(':', StringComparison.Ordinal)]).ToHashSet();
        Assert.Superset(new HashSet<string> { "Generator", "Source", "MySqlSink", "S3Sink", "S3", "Protection", "Pipeline", "Monitor", "Dashboard" }, sections);
        Assert.Contains(Settings(), s => s.Setting == "Dashboard:Oidc:Authority"); // a nested class's settings too
        Assert.Contains(Settings(), s => s.Setting == "MySqlSink:BatchSize");     // and a base class's
    }

    /// <summary>Each setting ("Section:Key") with its type and default, read from a new instance of its class.</summary>
    private static IEnumerable<(string Setting, Type Type, object? Value)> Settings()
    {
        foreach (var type in s_assemblies.SelectMany(a => a.GetTypes())
                     .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IValidatedOptions).IsAssignableFrom(t)))
        {
            if (type.GetField("Section", BindingFlags.Public | BindingFlags.Static) is not { IsLiteral: true } field) continue;
            foreach (var setting in Settings((string)field.GetRawConstantValue()!, Activator.CreateInstance(type)!)) yield return setting;
        }
    }

    private static IEnumerable<(string Setting, Type Type, object? Value)> Settings(string section, object instance)
    {
        foreach (var property in instance.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance)
                     .Where(p => p.CanRead && p.SetMethod is { IsPublic: true } && p.GetIndexParameters().Length == 0))
        {
            var name = $"{section}:{property.Name}";
            var value = property.GetValue(instance);
            var type = property.PropertyType;
            if (type.IsClass && type != typeof(string) && !typeof(IEnumerable).IsAssignableFrom(type)) // a nested section
            {
                foreach (var nested in Settings(name, value ?? Activator.CreateInstance(type)!)) yield return nested;
                continue;
            }
            yield return (name, type, value);
        }
    }

    /// <summary>The page's rows: each code span of the first cell (up to ":&lt;", a key of a map) -> the second cell.</summary>
    private static Dictionary<string, string> DocumentedSettings(string markdown)
    {
        var rows = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in markdown.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith('|')))
        {
            var cells = line.Trim('|').Split('|').Select(c => c.Trim()).ToArray();
            if (cells.Length < 3) continue;
            foreach (var setting in CodeSpan().Matches(cells[0]).Select(m => m.Groups[1].Value))
            {
                var map = setting.IndexOf(":<", StringComparison.Ordinal);
                rows.TryAdd(map < 0 ? setting : setting[..map], cells[1]);
            }
        }
        return rows;
    }

    /// <summary>
    /// The cell shows the default: "(none)" for null or an empty list or map, "(empty)" for an empty text, else a code span
    /// that the configuration binder would turn into the same value (`00:00:10`, `5000`, `Cdc`; a list comma-separated).
    /// </summary>
    private static bool ShowsDefault(string cell, Type type, object? value)
    {
        var spans = CodeSpan().Matches(cell).Select(m => m.Groups[1].Value).ToList();
        switch (value)
        {
            case null: return cell.Contains("(none)", StringComparison.Ordinal);
            case string { Length: 0 }: return cell.Contains("(empty)", StringComparison.Ordinal);
            case string text: return spans.Contains(text);
            case IDictionary { Count: 0 }: return cell.Contains("(none)", StringComparison.Ordinal);
            case IEnumerable list:
                var items = list.Cast<object>().Select(i => Convert.ToString(i, CultureInfo.InvariantCulture)).ToList();
                return items.Count == 0 ? cell.Contains("(none)", StringComparison.Ordinal) : spans.Contains(string.Join(",", items));
        }
        var converter = TypeDescriptor.GetConverter(Nullable.GetUnderlyingType(type) ?? type);
        return spans.Any(span =>
        {
            try { return Equals(converter.ConvertFromInvariantString(span), value); }
            catch (Exception e) when (e is FormatException or NotSupportedException or ArgumentException) { return false; }
        });
    }

    private static string Expected(object? value) => value switch
    {
        null => "(none)",
        string { Length: 0 } => "(empty)",
        string text => $"`{text}`",
        IDictionary { Count: 0 } => "(none)",
        IEnumerable list => list.Cast<object>().Any() ? $"`{string.Join(",", list.Cast<object>())}`" : "(none)",
        TimeSpan span => $"`{span:c}`",
        bool flag => flag ? "`true`" : "`false`",
        _ => $"`{Convert.ToString(value, CultureInfo.InvariantCulture)}`",
    };

    private static string PagePath([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", "docs", "configuration.md"));

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex CodeSpan();
}
