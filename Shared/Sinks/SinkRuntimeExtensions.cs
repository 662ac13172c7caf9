using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.Shared.Sinks;

public static class SinkRuntimeExtensions
{
    /// <summary>
    /// Registers a sink: its options (section <paramref name="section"/> and the tables of Pipeline:Tables, validated
    /// at start), the private-data protection (section Protection), the task and the <see cref="SinkRuntime"/> that runs it.
    /// </summary>
    public static IHostApplicationBuilder AddSink<TTask, TOptions>(this IHostApplicationBuilder builder, string section)
        where TTask : class, ISinkTask
        where TOptions : SinkOptions
    {
        var pipeline = builder.Configuration.GetSection(PipelineOptions.Section).Get<PipelineOptions>() ?? new PipelineOptions();
        builder.AddValidatedOptions<TOptions>(section).Configure(o => o.UsePipeline(pipeline, section));
        builder.AddValidatedOptions<ProtectionOptions>(ProtectionOptions.Section);
        var services = builder.Services;
        services.AddSingleton<SinkOptions>(sp => sp.GetRequiredService<IOptions<TOptions>>().Value);
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<ProtectionOptions>>().Value);
        services.AddSingleton(sp => new FieldProtector(sp.GetRequiredService<ProtectionOptions>()));
        services.AddSingleton<SinkProgress>();
        services.AddPipelineHealth();
        services.AddSingleton<TTask>();
        services.AddSingleton<ISinkTask>(sp => sp.GetRequiredService<TTask>());
        services.AddHostedService<SinkRuntime>();
        return builder;
    }
}
