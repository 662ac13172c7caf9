using System.Text;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Sinks;
using Microsoft.Extensions.Logging.Abstractions;

namespace KafkaPipeline.IntegrationTests.Sinks;

/// <summary>The dead-letter topic on the embedded Kafka: what a dead letter keeps of the record it stands for.</summary>
public sealed class DeadLetterQueueTests
{
    private static ConsumeResult<byte[]?, byte[]?> Consumed(long offset, byte[]? key, byte[]? value, Headers headers, Timestamp timestamp) => new()
    {
        TopicPartitionOffset = new TopicPartitionOffset(SinkTestKit.Topic, 2, offset),
        Message = new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = headers, Timestamp = timestamp },
    };

    [Fact]
    public async Task A_dead_letter_keeps_the_original_s_key_timestamp_and_headers_null_values_and_repeats_included_then_says_why()
    {
        await using var kit = new SinkTestKit();
        var protector = new FieldProtector(new ProtectionOptions());
        using var dlq = new DeadLetterQueue(new KafkaClients(kit.Bootstrap, NullLoggerFactory.Instance),
            new Dictionary<string, string> { [SinkTestKit.Topic] = SinkTestKit.DeadLetterTopic }, "test-sink",
            protector, NullLogger.Instance);
        var created = new Timestamp(new DateTime(2020, 5, 17, 10, 11, 12, 345, DateTimeKind.Utc), TimestampType.CreateTime);
        // A topic with message.timestamp.type=LogAppendTime gives the broker's time; a producer may only send CreateTime.
        var appended = new Timestamp(new DateTime(2021, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc), TimestampType.LogAppendTime);
        Headers Original() => new()
        {
            { "op", "u"u8.ToArray() }, { "empty", null }, { "traceparent", [] }, { "op", "c"u8.ToArray() }, { "garbage", [0xFF, 0x00, 0xC3] },
        };
        var records = new[]
        {
            new ErrantRecord(Consumed(10, "1"u8.ToArray(), "{\"id\":1,\"ssn\":\"123-45-6789\"}"u8.ToArray(), Original(), created),
                new InvalidRecordException("field 'id' is wrong"), SinkRecordReader.Stage),
            new ErrantRecord(Consumed(11, "2"u8.ToArray(), "not json 123-45-6789"u8.ToArray(), Original(), appended),
                new InvalidRecordException("value is not valid JSON (at byte 0)"), SinkRecordReader.Stage),
            new ErrantRecord(Consumed(12, null, null, [], Timestamp.Default), new InvalidRecordException("the record has no key"), SinkRecordReader.Stage),
        };

        await dlq.SendAllAsync(records, TimeSpan.FromSeconds(1), CancellationToken.None, CancellationToken.None);

        var dead = kit.ReadDeadLetters(records.Length);
        Assert.Equal(records.Length, dead.Count);
        var first = dead[0].Message;
        Assert.Equal("1"u8.ToArray(), first.Key);
        Assert.Equal(created.UnixTimestampMs, first.Timestamp.UnixTimestampMs);
        Assert.Equal(TimestampType.CreateTime, first.Timestamp.Type);
        Assert.Equal(appended.UnixTimestampMs, dead[1].Message.Timestamp.UnixTimestampMs);
        Assert.Null(dead[2].Message.Key);
        Assert.Null(dead[2].Message.Value);

        foreach (var d in dead.Take(2))
        {
            // The original headers first, in order, null and empty values and repeated names as they were.
            var headers = d.Message.Headers.ToList();
            Assert.Equal(["op", "empty", "traceparent", "op", "garbage"], headers.Take(5).Select(h => h.Key));
            Assert.Equal("u"u8.ToArray(), headers[0].GetValueBytes());
            Assert.Null(headers[1].GetValueBytes());
            Assert.Equal([], headers[2].GetValueBytes());
            Assert.Equal("c"u8.ToArray(), headers[3].GetValueBytes());
            Assert.Equal([0xFF, 0x00, 0xC3], headers[4].GetValueBytes());
            Assert.Equal(SinkTestKit.Topic, SinkTestKit.Header(d, PipelineHeaders.DlqTopic));
            Assert.Equal("2", SinkTestKit.Header(d, PipelineHeaders.DlqPartition));
            Assert.Equal("test-sink", SinkTestKit.Header(d, PipelineHeaders.DlqService));
            Assert.Equal(SinkRecordReader.Stage, SinkTestKit.Header(d, PipelineHeaders.DlqStage));
            Assert.Equal(nameof(InvalidRecordException), SinkTestKit.Header(d, PipelineHeaders.DlqErrorType));
            Assert.DoesNotContain("6789", Encoding.UTF8.GetString(d.Message.Value!), StringComparison.Ordinal);
        }
        Assert.Equal("10", SinkTestKit.Header(dead[0], PipelineHeaders.DlqOffset));
        Assert.Equal("field 'id' is wrong", SinkTestKit.Header(dead[0], PipelineHeaders.DlqError));
        Assert.Equal("fields-protected", SinkTestKit.Header(dead[0], PipelineHeaders.DlqValueForm));
        Assert.Equal("{\"id\":1,\"ssn\":\"" + protector.Hash("123-45-6789") + "\"}", Encoding.UTF8.GetString(dead[0].Message.Value!));
        Assert.Equal("sealed", SinkTestKit.Header(dead[1], PipelineHeaders.DlqValueForm));
        Assert.Equal("not json 123-45-6789"u8.ToArray(), protector.Unseal(dead[1].Message.Value));
        Assert.Equal("as-received", SinkTestKit.Header(dead[2], PipelineHeaders.DlqValueForm));
    }

    [Fact]
    public async Task A_dead_letter_too_large_for_the_topic_goes_without_its_value_instead_of_stopping_the_sink()
    {
        await using var kit = new SinkTestKit();
        using var dlq = new DeadLetterQueue(new KafkaClients(kit.Bootstrap, NullLoggerFactory.Instance),
            new Dictionary<string, string> { [SinkTestKit.Topic] = SinkTestKit.DeadLetterTopic }, "test-sink",
            new FieldProtector(new ProtectionOptions()), NullLogger.Instance);
        // Near the limit a record fits the topic, but its dead letter (sealed: 32 bytes more, and the dlq headers) does not.
        var huge = new byte[1_100_000];
        Array.Fill(huge, (byte)'x');
        var records = new[]
        {
            new ErrantRecord(Consumed(5, "1"u8.ToArray(), huge, new Headers { { "op", "c"u8.ToArray() } }, Timestamp.Default),
                new InvalidRecordException("value is not valid JSON (at byte 0)"), SinkRecordReader.Stage),
            new ErrantRecord(Consumed(6, "2"u8.ToArray(), "small"u8.ToArray(), [], Timestamp.Default),
                new InvalidRecordException("value is not valid JSON (at byte 0)"), SinkRecordReader.Stage),
        };

        await dlq.SendAllAsync(records, TimeSpan.FromSeconds(1), CancellationToken.None, CancellationToken.None);

        var dead = kit.ReadDeadLetters(2).ToDictionary(d => SinkTestKit.Header(d, PipelineHeaders.DlqOffset));
        Assert.Null(dead["5"].Message.Value);
        Assert.Equal("omitted-too-large", SinkTestKit.Header(dead["5"], PipelineHeaders.DlqValueForm));
        Assert.Equal("c", SinkTestKit.Header(dead["5"], "op"));
        Assert.Equal("sealed", SinkTestKit.Header(dead["6"], PipelineHeaders.DlqValueForm));
    }
}
