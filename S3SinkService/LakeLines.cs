using System.Globalization;
using System.Text;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Sinks;

namespace KafkaPipeline.S3SinkService;

/// <summary>What the lake stores for a record: one JSON line, with no clear private data.</summary>
public static class LakeLines
{
    /// <summary>
    /// The record as produced, its private fields pseudonymised (<see cref="FieldProtector"/>), or for a delete the
    /// key with "__deleted": "true" (Debezium's rewrite convention): replaying the lines in offset order gives the table.
    /// </summary>
    /// <returns>The line, or null for a value with a line break (it goes to the dead-letter topic: <see cref="LineBreak"/>).</returns>
    public static byte[]? Line(SinkRecord record, FieldProtector protector)
    {
        if (record.IsDelete)
            return Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"id\":{record.Key},\"__deleted\":\"true\"}}"));
        var value = record.Message.Message.Value!;
        var payload = value[ChangeEventReader.Split(value).Payload];
        return payload.AsSpan().IndexOfAny((byte)'\n', (byte)'\r') >= 0 ? null : protector.Protect(payload);
    }

    public const string LineBreak = "value contains a line break; JSON lines need one record per line";
}
