using KafkaPipeline.Shared;

namespace KafkaPipeline.UnitTests.Sinks;

public sealed class LibrdkafkaOverridesTests
{
    [Theory]
    [InlineData("plugin.library.paths")]
    [InlineData("ssl.engine.location")]
    [InlineData("ssl.engine.id")]
    [InlineData("ssl.providers")]
    [InlineData("ssl.key.location")]
    [InlineData("ssl.ca.location")]
    [InlineData("ssl.keystore.location")]
    [InlineData("ssl.crl.location")]
    [InlineData("ssl.certificate.location")]
    [InlineData("sasl.kerberos.kinit.cmd")]
    [InlineData("sasl.kerberos.keytab")]
    [InlineData("sasl.oauthbearer.assertion.private.key.file")]
    [InlineData("https.ca.location")]
    [InlineData("ssl.ca.certificate.stores")]
    [InlineData("SSL_KEY_LOCATION")]
    public void Keys_that_load_code_run_commands_or_use_files_are_refused_naming_the_key(string key)
    {
        var message = Assert.Single(LibrdkafkaOverrides.Validate("S3Sink:ConsumerOverrides", new Dictionary<string, string> { [key] = "/tmp/x" }));
        Assert.Equal($"S3Sink:ConsumerOverrides:{key} is refused: it makes librdkafka load code, run a command or use files of this machine.", message);
    }

    [Theory]
    [InlineData("session.timeout.ms", "6000")]
    [InlineData("fetch.wait.max.ms", "50")]
    [InlineData("queued.max.messages.kbytes", "4096")]
    [InlineData("partition.assignment.strategy", "cooperative-sticky")]
    public void Tuning_keys_pass(string key, string value) =>
        Assert.Empty(LibrdkafkaOverrides.Validate("S3Sink:ConsumerOverrides", new Dictionary<string, string> { [key] = value }));
}
