using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.Shared;

/// <summary>An options class that can say what is wrong with itself, naming each setting by its full key.</summary>
public interface IValidatedOptions
{
    /// <summary>Messages such as "MySqlSink:BatchSize must be at least 1 (got 0)"; empty when valid.</summary>
    IEnumerable<string> Validate(string section);

    /// <summary>The same for settings whose rules depend on the environment (Development or not); by default the same rules.</summary>
    IEnumerable<string> Validate(string section, IHostEnvironment environment) => Validate(section);
}

public static class ValidatedOptionsExtensions
{
    /// <summary>Binds <typeparamref name="T"/> from <paramref name="section"/> and fails at start-up when invalid.</summary>
    public static OptionsBuilder<T> AddValidatedOptions<T>(this IHostApplicationBuilder builder, string section)
        where T : class, IValidatedOptions
    {
        builder.Services.AddSingleton<IValidateOptions<T>>(new SectionValidator<T>(section, builder.Environment));
        return builder.Services.AddOptions<T>().Bind(builder.Configuration.GetSection(section)).ValidateOnStart();
    }

    private sealed class SectionValidator<T>(string section, IHostEnvironment environment) : IValidateOptions<T> where T : class, IValidatedOptions
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            var failures = options.Validate(section, environment).ToList();
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }
    }
}

/// <summary>Small checks that produce messages naming the setting.</summary>
public static class Check
{
    public static IEnumerable<string> Range(string key, double value, double min, double max)
    {
        if (double.IsNaN(value) || value < min || value > max)
            yield return $"{key} must be between {min} and {max} (got {value}).";
    }

    public static IEnumerable<string> Positive(string key, TimeSpan value)
    {
        if (value <= TimeSpan.Zero) yield return $"{key} must be a positive duration (got {value}).";
    }

    public static IEnumerable<string> NotNegative(string key, TimeSpan value)
    {
        if (value < TimeSpan.Zero) yield return $"{key} must not be negative (got {value}).";
    }

    public static IEnumerable<string> Identifier(string key, string? value)
    {
        if (!SqlIdentifier.IsValid(value))
            yield return $"{key} '{value}' is not a valid identifier: use 1-63 letters, digits or '_', not starting with a digit.";
    }

    public static IEnumerable<string> Required(string key, string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) yield return $"{key} is required.";
    }
}
