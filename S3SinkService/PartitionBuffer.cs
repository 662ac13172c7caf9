using System.Globalization;
using Amazon.S3.Model;
using KafkaPipeline.Shared;
using Microsoft.IO;

namespace KafkaPipeline.S3SinkService;

/// <summary>
/// An object being built for one partition: JSON lines of the records from <see cref="StartOffset"/> up to (not
/// including) <see cref="EndOffset"/>, or with <paramref name="parquet"/> the rows of one schema version, written as a
/// Parquet file at the PUT. Offsets without a line (dead-lettered records) are covered by the range. The bytes live in
/// pooled blocks (returned by <see cref="Dispose"/>), not in one array that grows with the object.
/// </summary>
public sealed class PartitionBuffer(RecyclableMemoryStreamManager streams, int partition, long startOffset, DateTimeOffset openedAt,
    LakeParquet? parquet = null) : IDisposable
{
    private readonly RecyclableMemoryStream _body = streams.GetStream("s3-object");
    // Offset and position of each line (or index of each Parquet row), so the buffer can be cut where another writer's object ends.
    private readonly List<(long Offset, long Position)> _lines = [];
    private readonly List<object?[]> _rows = [];

    /// <summary>The Parquet layout (one schema version) of the object; null for JSON lines.</summary>
    public LakeParquet? Parquet { get; } = parquet;

    public int Partition { get; } = partition;
    public long StartOffset { get; } = startOffset;
    public long EndOffset { get; private set; } = startOffset;
    public DateTimeOffset OpenedAt { get; } = openedAt;
    public int Records => _lines.Count;

    /// <summary>The lines, for tests and for cutting.</summary>
    public System.Buffers.ReadOnlySequence<byte> Body => _body.GetReadOnlySequence();

    /// <summary>A Parquet row (<see cref="LakeParquet.Row"/>).</summary>
    public void Add(long offset, object?[] row)
    {
        _lines.Add((offset, _rows.Count));
        _rows.Add(row);
        EndOffset = offset + 1;
    }

    public void Add(long offset, ReadOnlySpan<byte> line)
    {
        _lines.Add((offset, _body.Length));
        _body.Write(line);
        _body.WriteByte((byte)'\n');
        EndOffset = offset + 1;
    }

    /// <summary>The PUT of this object: its lines as the body, its offsets in the metadata (the resume point of the next owner).</summary>
    public async Task<PutObjectRequest> PutRequestAsync(string bucket, string key, string topic, CancellationToken ct)
    {
        if (Parquet is not null && _body.Length == 0)
        {
            try
            {
                await Parquet.WriteAsync(_body, _rows, ct); // once: a repeated attempt sends the same bytes
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _body.SetLength(0); // never a half-written file
                // The rows were checked when they were added: this is a defect that retrying cannot fix. The message
                // could quote a value: only the exception's class.
                throw new NotRetriableException($"the Parquet object {key} cannot be written ({e.GetType().Name}), a defect: report it");
            }
        }
        _body.Position = 0; // a repeated attempt reads the body again
        var request = S3Extensions.PlainPut(bucket, key, _body, Parquet is null ? "application/x-ndjson" : "application/vnd.apache.parquet", closeStream: false);
        request.Metadata.Add(ObjectMetadata.Topic, topic);
        request.Metadata.Add(ObjectMetadata.Partition, Partition.ToString(CultureInfo.InvariantCulture));
        request.Metadata.Add(ObjectMetadata.StartOffset, StartOffset.ToString(CultureInfo.InvariantCulture));
        request.Metadata.Add(ObjectMetadata.EndOffset, EndOffset.ToString(CultureInfo.InvariantCulture));
        request.Metadata.Add(ObjectMetadata.RecordCount, Records.ToString(CultureInfo.InvariantCulture));
        return request;
    }

    /// <summary>What of <paramref name="buffers"/> (in offset order) lies beyond <paramref name="end"/>, cut there; the rest is disposed.</summary>
    public static List<PartitionBuffer> Beyond(IEnumerable<PartitionBuffer> buffers, long end)
    {
        var kept = new List<PartitionBuffer>();
        foreach (var b in buffers)
        {
            if (b.EndOffset > end && b.StartOffset >= end) kept.Add(b);
            else
            {
                if (b.EndOffset > end) kept.Add(b.From(end));
                b.Dispose();
            }
        }
        return kept;
    }

    /// <summary>A buffer of the same records from <paramref name="offset"/> on, starting there.</summary>
    public PartitionBuffer From(long offset)
    {
        var rest = new PartitionBuffer(streams, Partition, offset, OpenedAt, Parquet) { EndOffset = Math.Max(offset, EndOffset) };
        var first = _lines.FindIndex(l => l.Offset >= offset);
        if (first < 0) return rest;
        if (Parquet is not null)
        {
            foreach (var (o, index) in _lines.Skip(first)) rest.Add(o, _rows[(int)index]);
            rest.EndOffset = Math.Max(offset, EndOffset);
            return rest;
        }
        var shift = _lines[first].Position;
        foreach (var segment in _body.GetReadOnlySequence().Slice(shift)) rest._body.Write(segment.Span);
        rest._lines.AddRange(_lines.Skip(first).Select(l => (l.Offset, l.Position - shift)));
        return rest;
    }

    public void Dispose() => _body.Dispose();
}
