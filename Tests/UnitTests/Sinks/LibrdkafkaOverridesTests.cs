using KafkaPipeline.Shared;

namespace KafkaPipeline.UnitTests.Sinks;

public sealed class LibrdkafkaOverridesTests
{
    private const string Refused = "is refused: only librdkafka's tuning settings listed in docs/security.md may be overridden";

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
    // Passed the old deny list: an alias of bootstrap.servers, and turning off the broker certificate check.
    [InlineData("enable.ssl.certificate.verification")]
    [InlineData("ssl.endpoint.identification.algorithm")]
    [InlineData("security.protocol")]
    [InlineData("debug")]
    [InlineData("Session.Timeout.Ms")]
    [InlineData("some.unknown.setting")]
    public void Every_key_that_is_not_a_listed_tuning_setting_is_refused_naming_the_key(string key)
    {
        var message = Assert.Single(LibrdkafkaOverrides.Validate("S3Sink:ConsumerOverrides", new Dictionary<string, string> { [key] = "false" }));
        Assert.StartsWith($"S3Sink:ConsumerOverrides:{key} {Refused}", message);
    }

    [Theory]
    [InlineData("metadata.broker.list")]
    [InlineData("bootstrap.servers")]
    [InlineData("group.id")]
    [InlineData("enable.auto.commit")]
    [InlineData("isolation.level")]
    public void Settings_the_pipeline_owns_cannot_be_overridden(string key)
    {
        var message = Assert.Single(LibrdkafkaOverrides.Validate("S3Sink:ConsumerOverrides", new Dictionary<string, string> { [key] = "x" }));
        Assert.Equal($"S3Sink:ConsumerOverrides:{key} cannot be overridden (the sink's correctness or its other settings depend on it).", message);
    }

    [Theory]
    [InlineData("session.timeout.ms", "6000")]
    [InlineData("fetch.wait.max.ms", "50")]
    [InlineData("queued.max.messages.kbytes", "4096")]
    [InlineData("partition.assignment.strategy", "cooperative-sticky")]
    public void Tuning_keys_pass(string key, string value) =>
        Assert.Empty(LibrdkafkaOverrides.Validate("S3Sink:ConsumerOverrides", new Dictionary<string, string> { [key] = value }));

    [Theory]
    [InlineData("message.max.bytes", "4000000")] // what the source's error for an event too large tells the operator to set
    [InlineData("linger.ms", "1")]
    [InlineData("queue.buffering.max.kbytes", "65536")]
    public void The_source_s_producer_may_be_sized_and_batched(string key, string value) =>
        Assert.Empty(LibrdkafkaOverrides.Validate("Source:ProducerOverrides", new Dictionary<string, string> { [key] = value }));

    [Theory]
    [InlineData("acks")]
    [InlineData("enable.idempotence")]
    [InlineData("enable.gapless.guarantee")]
    [InlineData("message.timeout.ms")]
    [InlineData("partitioner")]
    public void The_producer_settings_exactly_once_rests_on_are_refused(string key) =>
        Assert.StartsWith($"Source:ProducerOverrides:{key} {Refused}",
            Assert.Single(LibrdkafkaOverrides.Validate("Source:ProducerOverrides", new Dictionary<string, string> { [key] = "1" })));

    [Fact]
    public void Every_allowed_key_is_documented()
    {
        var doc = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "security.md"));
        Assert.Equal([], LibrdkafkaOverrides.Allowed.Where(k => !doc.Contains($"`{k}`", StringComparison.Ordinal)).Order().ToArray());
    }

    private static string RepositoryRoot([System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));
}
