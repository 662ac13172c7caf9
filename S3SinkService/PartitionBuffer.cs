using System.Buffers;
using System.Diagnostics;

namespace KafkaPipeline.S3SinkService;

/// <summary>
/// The open object of one partition: JSON lines of the records from <see cref="StartOffset"/> up to (not including)
/// <see cref="EndOffset"/>. Dead-lettered records advance the end offset without adding a line.
/// </summary>
public sealed class PartitionBuffer(int partition, long startOffset, DateTimeOffset openedAt)
{
    private readonly ArrayBufferWriter<byte> _body = new(64 * 1024);

    public int Partition { get; } = partition;
    public long StartOffset { get; } = startOffset;
    public long EndOffset { get; private set; } = startOffset;
    public DateTimeOffset OpenedAt { get; } = openedAt;
    public int Records { get; private set; }

    /// <summary>updated_at of each record, for the end-to-end latency once the object is stored.</summary>
    public List<DateTime> UpdatedAt { get; } = [];

    /// <summary>Trace context of each record that carried one: each gets an "s3 put" span.</summary>
    public List<ActivityContext> Traces { get; } = [];

    public ReadOnlyMemory<byte> Body => _body.WrittenMemory;

    public void Add(long offset, ReadOnlySpan<byte> value, DateTime updatedAt, ActivityContext trace)
    {
        _body.Write(value);
        _body.Write("\n"u8);
        Records++;
        UpdatedAt.Add(updatedAt);
        if (trace != default) Traces.Add(trace);
        EndOffset = offset + 1;
    }

    /// <summary>A record that went to the dead-letter topic: covered by this object's offsets, not by its lines.</summary>
    public void Skip(long offset) => EndOffset = offset + 1;
}
