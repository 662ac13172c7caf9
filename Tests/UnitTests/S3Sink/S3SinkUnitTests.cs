using KafkaPipeline.S3SinkService;

namespace KafkaPipeline.UnitTests.S3Sink;

public sealed class ObjectKeysTests
{
    [Theory]
    [InlineData(0, 0L, "topics/P_USERS/partition=0/P_USERS+0+0000000000.json")]
    [InlineData(3, 42L, "topics/P_USERS/partition=3/P_USERS+3+0000000042.json")]
    [InlineData(11, 9_999_999_999L, "topics/P_USERS/partition=11/P_USERS+11+9999999999.json")]
    public void Key_has_the_confluent_layout_with_ten_digit_offsets(int partition, long offset, string expected)
    {
        Assert.Equal(expected, ObjectKeys.ObjectKey("topics", "P_USERS", partition, offset));
        Assert.Equal($"topics/P_USERS/partition={partition}/", ObjectKeys.PartitionPrefix("topics", "P_USERS", partition));
    }

    [Fact]
    public void Key_parses_back_to_topic_partition_and_start_offset()
    {
        var key = ObjectKeys.ObjectKey("lake/raw", "P_USERS", 2, 123_456);
        Assert.True(ObjectKeys.TryParse(key, out var parsed));
        Assert.Equal(new ParsedKey("P_USERS", 2, 123_456), parsed);
    }

    [Fact]
    public void Offsets_beyond_ten_digits_still_parse()
    {
        Assert.True(ObjectKeys.TryParse("topics/T/partition=1/T+1+12345678901.json", out var parsed));
        Assert.Equal(12_345_678_901L, parsed.StartOffset);
    }

    [Theory]
    [InlineData("topics/P_USERS/partition=0/P_USERS+0+0000000001.json.tmp")]
    [InlineData("topics/P_USERS/partition=0/P_USERS+0+1.json")]             // not padded
    [InlineData("topics/P_USERS/partition=1/P_USERS+0+0000000001.json")]    // folder and file name disagree
    [InlineData("topics/P_USERS/partition=0/OTHER+0+0000000001.json")]      // another topic's file
    [InlineData("topics/P_USERS/partition=0/P_USERS+x+0000000001.json")]
    [InlineData("topics/P_USERS/partition=0/P_USERS+0+-000000001.json")]
    [InlineData("P_USERS+0+0000000001.json")]                                // no folder
    [InlineData("topics/P_USERS/partition=0/")]
    public void Foreign_keys_are_rejected(string key) => Assert.False(ObjectKeys.TryParse(key, out _));

    [Fact]
    public void Keys_of_one_partition_sort_by_start_offset()
    {
        var offsets = new long[] { 5, 10, 99, 100, 1_000_000, 42 };
        var keys = offsets.Select(o => ObjectKeys.ObjectKey("topics", "P_USERS", 0, o)).OrderBy(k => k, StringComparer.Ordinal);
        Assert.Equal(offsets.Order(), keys.Select(k => ObjectKeys.TryParse(k, out var p) ? p.StartOffset : -1));
    }
}

public sealed class RotationTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly RotationPolicy _policy = new(flushSize: 3, rotateInterval: TimeSpan.FromSeconds(1));

    [Fact]
    public void Young_object_below_flush_size_stays_open() =>
        Assert.Equal(RotationReason.None, _policy.Check(2, T0, T0.AddMilliseconds(999)));

    [Fact]
    public void Flush_size_closes_the_object_at_once() =>
        Assert.Equal(RotationReason.Size, _policy.Check(3, T0, T0));

    [Fact]
    public void Rotate_interval_closes_an_old_object_even_without_new_records() =>
        Assert.Equal(RotationReason.Time, _policy.Check(1, T0, T0.AddSeconds(1)));

    [Fact]
    public void An_object_of_only_dead_lettered_records_is_closed_by_time() =>
        Assert.Equal(RotationReason.Time, _policy.Check(0, T0, T0.AddSeconds(5)));
}

public sealed class ResumePositionTests
{
    [Fact]
    public void Nothing_known_means_the_beginning() => Assert.Null(ResumePosition.Choose(null, null));

    [Fact]
    public void Bucket_ahead_of_the_committed_offset_wins() => Assert.Equal(120, ResumePosition.Choose(120, 100));

    [Fact]
    public void Committed_offset_is_used_when_the_bucket_is_empty() => Assert.Equal(100, ResumePosition.Choose(null, 100));

    [Fact]
    public void Committed_offset_ahead_of_the_bucket_covers_trailing_dead_lettered_records() =>
        Assert.Equal(105, ResumePosition.Choose(100, 105));

    [Fact]
    public void Bucket_alone_is_enough() => Assert.Equal(7, ResumePosition.Choose(7, null));
}

public sealed class S3SinkOptionsTests
{
    [Fact]
    public void Defaults_are_valid()
    {
        var options = new S3SinkOptions();
        Assert.Empty(options.Validate("S3Sink"));
        Assert.Equal("P_USERS", options.EffectiveTopic);
        Assert.Equal("P_USERS.dlq", options.EffectiveDeadLetterTopic);
        Assert.Equal(TimeSpan.FromSeconds(1), options.RotateInterval);
    }

    [Theory]
    [InlineData(0, "S3Sink:FlushSize must be between 1 and 1000000 (got 0).")]
    [InlineData(2_000_000, "S3Sink:FlushSize must be between 1 and 1000000 (got 2000000).")]
    public void Flush_size_out_of_range_is_named(int flushSize, string message) =>
        Assert.Equal([message], new S3SinkOptions { FlushSize = flushSize }.Validate("S3Sink"));

    [Fact]
    public void Zero_rotate_interval_is_named() =>
        Assert.Equal(["S3Sink:RotateInterval must be a positive duration (got 00:00:00)."],
            new S3SinkOptions { RotateInterval = TimeSpan.Zero }.Validate("S3Sink"));

    [Theory]
    [InlineData("")]
    [InlineData("/topics")]
    [InlineData("topics/")]
    [InlineData("a//b")]
    [InlineData("to pics")]
    public void Bad_topics_dir_is_named(string dir) =>
        Assert.Contains(new S3SinkOptions { TopicsDir = dir }.Validate("S3Sink"), m => m.StartsWith("S3Sink:TopicsDir", StringComparison.Ordinal));

    [Fact]
    public void Source_table_with_a_quote_is_named() =>
        Assert.Contains(new S3SinkOptions { SourceTable = "us'ers" }.Validate("S3Sink"), m => m.StartsWith("S3Sink:SourceTable 'us'ers'", StringComparison.Ordinal));

    [Fact]
    public void Dead_letter_topic_must_differ_from_the_topic() =>
        Assert.Contains(new S3SinkOptions { DeadLetterTopic = "P_USERS" }.Validate("S3Sink"), m => m.StartsWith("S3Sink:DeadLetterTopic must differ", StringComparison.Ordinal));

    [Fact]
    public void Consumer_overrides_cannot_touch_the_commit_settings() =>
        Assert.Equal(["S3Sink:ConsumerOverrides:enable.auto.commit cannot be overridden (the sink's correctness or its other settings depend on it)."],
            new S3SinkOptions { ConsumerOverrides = { ["enable.auto.commit"] = "true", ["session.timeout.ms"] = "6000" } }.Validate("S3Sink"));

    [Fact]
    public void Empty_group_is_named() =>
        Assert.Equal(["S3Sink:GroupId is required."], new S3SinkOptions { GroupId = " " }.Validate("S3Sink"));
}

public sealed class PartitionBufferTests
{
    private static readonly Microsoft.IO.RecyclableMemoryStreamManager Streams = new(new Microsoft.IO.RecyclableMemoryStreamManager.Options { BlockSize = 16 });

    [Fact]
    public void Lines_are_the_values_and_offsets_without_a_line_stay_inside_the_range()
    {
        using var b = new PartitionBuffer(Streams, 1, 10, DateTimeOffset.UnixEpoch);
        b.Add(10, """{"a":1}"""u8);
        b.Add(12, """{"a":3}"""u8); // 11 was dead-lettered
        Assert.Equal("{\"a\":1}\n{\"a\":3}\n", System.Text.Encoding.UTF8.GetString(System.Buffers.BuffersExtensions.ToArray(b.Body)));
        Assert.Equal(2, b.Records);
        Assert.Equal(10, b.StartOffset);
        Assert.Equal(13, b.EndOffset);
    }

    [Fact]
    public void Cut_where_another_writer_s_object_ends_keeps_the_rest_byte_for_byte()
    {
        using var b = new PartitionBuffer(Streams, 0, 100, DateTimeOffset.UnixEpoch);
        for (var o = 100; o < 110; o++) b.Add(o, System.Text.Encoding.UTF8.GetBytes($"line {o} 😀"));
        using var rest = b.From(106);
        Assert.Equal(106, rest.StartOffset);
        Assert.Equal(110, rest.EndOffset);
        Assert.Equal(4, rest.Records);
        Assert.Equal("line 106 😀\nline 107 😀\nline 108 😀\nline 109 😀\n", System.Text.Encoding.UTF8.GetString(System.Buffers.BuffersExtensions.ToArray(rest.Body)));
        Assert.Equal(b.OpenedAt, rest.OpenedAt);
    }
}
