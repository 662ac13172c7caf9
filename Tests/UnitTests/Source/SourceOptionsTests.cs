using KafkaPipeline.Generator;
using KafkaPipeline.SourceService;

namespace KafkaPipeline.UnitTests.Source;

public sealed class SourceOptionsTests
{
    [Fact]
    public void Defaults_are_valid_and_name_the_tutorial_topic()
    {
        var options = new SourceOptions();
        Assert.Empty(options.Validate("Source"));
        Assert.Equal("P_USERS", options.Topic);
        Assert.Empty(new GeneratorOptions().Validate("Generator"));
    }

    [Theory]
    [InlineData("Source:Table", "Table", "users\"; drop")]
    [InlineData("Source:OffsetsTable", "OffsetsTable", "off sets")]
    [InlineData("Source:TopicPrefix", "TopicPrefix", "P/")]
    public void Bad_names_are_refused_naming_the_setting(string key, string property, string value)
    {
        var options = new SourceOptions();
        typeof(SourceOptions).GetProperty(property)!.SetValue(options, value);
        Assert.Contains(options.Validate("Source"), m => m.StartsWith(key, StringComparison.Ordinal));
    }

    [Fact]
    public void Zero_batch_size_and_poll_interval_are_refused()
    {
        var messages = new SourceOptions { BatchSize = 0, PollInterval = TimeSpan.Zero, Delay = TimeSpan.FromSeconds(-1) }.Validate("Source").ToList();
        Assert.Contains(messages, m => m.StartsWith("Source:BatchSize", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("Source:PollInterval", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("Source:Delay", StringComparison.Ordinal));
    }

    [Fact]
    public void Generator_rate_fraction_and_count_are_checked()
    {
        var messages = new GeneratorOptions { RatePerSecond = 0, UpdateFraction = 1.5, TotalCount = -1, Table = "a-b" }.Validate("Generator").ToList();
        Assert.Contains(messages, m => m.StartsWith("Generator:RatePerSecond", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("Generator:UpdateFraction", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("Generator:TotalCount", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("Generator:Table", StringComparison.Ordinal));
    }

    [Fact]
    public void Incrementing_positions_ignore_the_timestamp()
    {
        var reader = new UsersReader(null!, null!, new SourceOptions { Mode = SourceMode.Incrementing });
        var user = new KafkaPipeline.Shared.UserRecord { Id = 7, UpdatedAt = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc) };
        var values = KafkaPipeline.Shared.UsersEvents.Values(user);
        Assert.Equal(new KafkaPipeline.Shared.SourcePosition(DateTime.UnixEpoch, 7), reader.PositionOf(KafkaPipeline.Shared.UsersEvents.Schema, values));
        var byTime = new UsersReader(null!, null!, new SourceOptions { Mode = SourceMode.TimestampIncrementing });
        Assert.Equal(user.Position, byTime.PositionOf(KafkaPipeline.Shared.UsersEvents.Schema, values));
    }
}
