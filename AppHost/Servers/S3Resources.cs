namespace KafkaPipeline.AppHost.Servers;

/// <summary>
/// An S3-compatible store and the pipeline's bucket in it. Connection string (read by Shared/S3/S3Options.cs):
/// "Endpoint=http://host:port;Bucket=users-lake;AccessKey=...;SecretKey=...".
/// </summary>
public interface IS3Resource : IResourceWithConnectionString, IResourceWithEndpoints
{
    const string EndpointName = "http";
    const string BucketName = "users-lake";
}

/// <summary>LocalStack with S3 only (containers runtime). It accepts any key pair; test/test are its documented defaults.</summary>
public sealed class LocalStackResource(string name) : ContainerResource(name), IS3Resource
{
    public EndpointReference PrimaryEndpoint => new(this, IS3Resource.EndpointName);

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"Endpoint={PrimaryEndpoint.Property(EndpointProperty.Url)};Bucket={IS3Resource.BucketName};AccessKey=test;SecretKey=test");
}

/// <summary>s3rver (npm) as a process of the local runtime, with its fixed development keys.</summary>
public sealed class S3rverResource(string name, string command, string workingDirectory, LocalServers local)
    : ExecutableResource(name, command, workingDirectory), IS3Resource
{
    public EndpointReference PrimaryEndpoint => new(this, IS3Resource.EndpointName);

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"Endpoint=http://127.0.0.1:{PrimaryEndpoint.Property(EndpointProperty.Port)};Bucket={IS3Resource.BucketName};AccessKey={local.S3AccessKey};SecretKey={local.S3SecretKey}");
}
