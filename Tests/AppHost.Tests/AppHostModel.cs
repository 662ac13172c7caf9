using Microsoft.Extensions.Logging.Abstractions;

namespace KafkaPipeline.AppHost.Tests;

/// <summary>
/// The AppHost's application model, created by running AppHost.cs up to Build() and never started: no BuildAsync (it
/// would start the whole application in the background), no process, no port.
/// </summary>
internal static class AppHostModel
{
    public static readonly string[] Stores = ["usersdb", "emaildb", "kafka", "s3"];
    public static readonly string[] Services = ["generator", "source", "mysql-sink", "s3-sink", "monitor", "dashboard"];

    public static Task<IDistributedApplicationTestingBuilder> CreateAsync(string runtime, params string[] args) =>
        DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>([$"--AppHost:Runtime={runtime}", .. args]);

    public static T Single<T>(IDistributedApplicationTestingBuilder builder, string name) where T : IResource =>
        Assert.IsAssignableFrom<T>(Assert.Single(builder.Resources, r => r.Name == name));

    /// <summary>
    /// The environment a resource would get, in publish form: references stay expressions ("{kafka.connectionString}")
    /// instead of being resolved, since nothing runs.
    /// </summary>
    public static async Task<Dictionary<string, string>> EnvironmentAsync(IResource resource)
    {
        var config = await ExecutionConfigurationBuilder.Create(resource)
            .WithEnvironmentVariablesConfig()
            .BuildAsync(new DistributedApplicationExecutionContext(DistributedApplicationOperation.Publish), NullLogger.Instance);
        return config.EnvironmentVariables.ToDictionary(kv => kv.Key, kv => kv.Value);
    }

    public static async Task<List<string>> ArgumentsAsync(IResource resource)
    {
        var config = await ExecutionConfigurationBuilder.Create(resource)
            .WithArgumentsConfig()
            .BuildAsync(new DistributedApplicationExecutionContext(DistributedApplicationOperation.Publish), NullLogger.Instance);
        return config.Arguments.Select(a => a.Value).ToList();
    }

    public static void AssertWaitsUntilHealthy(IResource resource, string dependency) =>
        Assert.Contains(resource.Annotations.OfType<WaitAnnotation>(),
            w => w.Resource.Name == dependency && w.WaitType == WaitType.WaitUntilHealthy);

    public static string ConnectionExpression(IDistributedApplicationTestingBuilder builder, string name) =>
        Single<IResourceWithConnectionString>(builder, name).ConnectionStringExpression.ValueExpression;
}
