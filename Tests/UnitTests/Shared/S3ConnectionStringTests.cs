using KafkaPipeline.Shared;

namespace KafkaPipeline.UnitTests.Shared;

// ConnectionStrings:s3, the S3 resource's connection string the AppHost injects.
public sealed class S3ConnectionStringTests
{
    [Fact]
    public void Every_key_of_the_connection_string_overrides_the_setting()
    {
        var options = new S3Options { ServiceUrl = "http://elsewhere:1", Bucket = "other", AccessKey = "x", SecretKey = "y" };
        options.ApplyConnectionString("Endpoint=http://127.0.0.1:4566;Bucket=users-lake;AccessKey=S3RVER;SecretKey=S3RVER");

        Assert.Equal("http://127.0.0.1:4566", options.ServiceUrl);
        Assert.Equal("users-lake", options.Bucket);
        Assert.Equal("S3RVER", options.AccessKey);
        Assert.Equal("S3RVER", options.SecretKey);
        Assert.Empty(options.Validate("S3"));
    }

    [Fact]
    public void Keys_it_does_not_name_keep_their_settings()
    {
        var options = new S3Options { Bucket = "kept", Region = "eu-west-1" };
        options.ApplyConnectionString("Endpoint=http://localhost:4566");

        Assert.Equal("kept", options.Bucket);
        Assert.Equal("eu-west-1", options.Region);
        Assert.Null(options.AccessKey);
    }

    [Fact]
    public void An_unknown_key_is_an_error_naming_it_and_the_setting()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new S3Options().ApplyConnectionString("Endpoint=http://x;Buckit=users-lake"));
        Assert.Contains("ConnectionStrings:s3", error.Message, StringComparison.Ordinal);
        Assert.Contains("buckit", error.Message, StringComparison.OrdinalIgnoreCase);
    }
}
