using KafkaPipeline.Shared;

namespace KafkaPipeline.AppHost.Servers;

internal static class S3BuilderExtensions
{
    /// <summary>containers: LocalStack (pinned: later tags need an auth token) serving S3 only.</summary>
    public static IResourceBuilder<LocalStackResource> AddLocalStack(this IDistributedApplicationBuilder builder, string name) =>
        builder.AddResource(new LocalStackResource(name))
            .WithImage(ServerImages.LocalStack, ServerImages.LocalStackTag)
            .WithHttpEndpoint(targetPort: 4566, name: IS3Resource.EndpointName)
            .WithEnvironment("SERVICES", "s3")
            .WithHttpHealthCheck("/_localstack/health", endpointName: IS3Resource.EndpointName)
            .WithBucket();

    /// <summary>
    /// local: s3rver as user nobody on 127.0.0.1. --openssl-legacy-provider: s3rver makes ListObjectsV2 continuation
    /// tokens with DES, which OpenSSL 3 keeps in its legacy provider (without it every truncated listing answers 500).
    /// </summary>
    public static IResourceBuilder<S3rverResource> AddS3rver(this IDistributedApplicationBuilder builder, string name, LocalServers local)
    {
        var (command, runAs) = LocalProcesses.AsUser("nobody", local.Node);
        var resource = new S3rverResource(name, command, local.DirectoryFor("s3"), local);
        return builder.AddResource(resource)
            .WithHttpEndpoint(port: local.S3Port, name: IS3Resource.EndpointName, isProxied: false)
            .WithArgs(runAs)
            .WithArgs(context =>
            {
                foreach (var arg in new object[]
                {
                    "--openssl-legacy-provider", local.S3rverScript, "-d", Path.Combine(resource.WorkingDirectory, "objects"),
                    "-a", "127.0.0.1", "-p", resource.PrimaryEndpoint.Property(EndpointProperty.TargetPort), "--silent",
                })
                {
                    context.Args.Add(arg);
                }
            })
            .OnBeforeResourceStarted((r, _, _) =>
            {
                LocalProcesses.OwnedDirectory(r.WorkingDirectory, "nobody");
                LocalProcesses.OwnedDirectory(Path.Combine(r.WorkingDirectory, "objects"), "nobody");
                return Task.CompletedTask;
            })
            .WithHttpHealthCheck("/", endpointName: IS3Resource.EndpointName)
            .WithBucket();
    }

    /// <summary>Creates the pipeline's bucket once the store answers (idempotent).</summary>
    private static IResourceBuilder<T> WithBucket<T>(this IResourceBuilder<T> s3) where T : IS3Resource =>
        s3.OnResourceReady(async (r, _, ct) =>
        {
            var options = new S3Options();
            options.ApplyConnectionString((await r.ConnectionStringExpression.GetValueAsync(ct))!);
            using var client = options.CreateClient();
            await client.EnsureBucketAsync(options.Bucket, ct);
        });
}
