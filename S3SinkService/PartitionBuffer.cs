using System.Buffers;
using System.Globalization;
using Amazon.S3.Model;
using KafkaPipeline.Shared;

namespace KafkaPipeline.S3SinkService;

/// <summary>
/// An object being built for one partition: JSON lines of the records from <see cref="StartOffset"/> up to (not
/// including) <see cref="EndOffset"/>. Offsets without a line (dead-lettered records) are covered by the range.
/// </summary>
public sealed class PartitionBuffer(int partition, long startOffset, DateTimeOffset openedAt)
{
    private readonly ArrayBufferWriter<byte> _body = new(64 * 1024);
    // Offset and position of each line, so the buffer can be cut where another writer's object ends.
    private readonly List<(long Offset, int Position)> _lines = [];

    public int Partition { get; } = partition;
    public long StartOffset { get; } = startOffset;
    public long EndOffset { get; private set; } = startOffset;
    public DateTimeOffset OpenedAt { get; } = openedAt;
    public int Records => _lines.Count;
    public ReadOnlyMemory<byte> Body => _body.WrittenMemory;

    public void Add(long offset, ReadOnlySpan<byte> line)
    {
        _lines.Add((offset, _body.WrittenCount));
        _body.Write(line);
        _body.Write("\n"u8);
        EndOffset = offset + 1;
    }

    /// <summary>The PUT of this object: its lines as the body, its offsets in the metadata (the resume point of the next owner).</summary>
    public PutObjectRequest PutRequest(string bucket, string key, string topic)
    {
        var request = S3Extensions.PlainPut(bucket, key, Body, "application/x-ndjson");
        request.Metadata.Add(ObjectMetadata.Topic, topic);
        request.Metadata.Add(ObjectMetadata.Partition, Partition.ToString(CultureInfo.InvariantCulture));
        request.Metadata.Add(ObjectMetadata.StartOffset, StartOffset.ToString(CultureInfo.InvariantCulture));
        request.Metadata.Add(ObjectMetadata.EndOffset, EndOffset.ToString(CultureInfo.InvariantCulture));
        request.Metadata.Add(ObjectMetadata.RecordCount, Records.ToString(CultureInfo.InvariantCulture));
        return request;
    }

    /// <summary>What of <paramref name="buffers"/> (in offset order) lies beyond <paramref name="end"/>, cut there.</summary>
    public static List<PartitionBuffer> Beyond(IEnumerable<PartitionBuffer> buffers, long end) =>
        [.. buffers.Where(b => b.EndOffset > end).Select(b => b.StartOffset < end ? b.From(end) : b)];

    /// <summary>A buffer of the same records from <paramref name="offset"/> on, starting there.</summary>
    public PartitionBuffer From(long offset)
    {
        var rest = new PartitionBuffer(Partition, offset, OpenedAt) { EndOffset = Math.Max(offset, EndOffset) };
        for (var i = 0; i < _lines.Count; i++)
        {
            if (_lines[i].Offset < offset) continue;
            var end = i + 1 < _lines.Count ? _lines[i + 1].Position : _body.WrittenCount;
            rest._lines.Add((_lines[i].Offset, rest._body.WrittenCount));
            rest._body.Write(Body.Span[_lines[i].Position..end]);
        }
        return rest;
    }
}
