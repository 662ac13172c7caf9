using System.Globalization;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.Shared;

/// <summary>
/// Writes the change headers of a stream of events into new <see cref="Headers"/>, encoding the values that repeat from
/// one event to the next (the op, the table, the epoch, a transaction's commit LSN, time and id, a multi-row insert's
/// change LSN) only once. Not thread-safe: one per producing loop.
/// </summary>
public sealed class ChangeHeaderWriter
{
    private readonly Dictionary<string, byte[]> _texts = new(StringComparer.Ordinal);
    private (ulong Lsn, byte[] Bytes) _commitLsn = (ulong.MaxValue, []);
    private (ulong Lsn, byte[] Bytes) _changeLsn = (ulong.MaxValue, []);
    private (DateTime Time, byte[] Bytes) _commitTime = (DateTime.MinValue, []);
    private (long Id, byte[] Bytes) _txId = (long.MinValue, []);
    private (SourceEpoch Epoch, byte[] Bytes) _epoch = (default, []);

    public void Write(Headers headers, ChangeMetadata change)
    {
        var version = change.Version;
        if (_commitLsn.Lsn != version.CommitLsn) _commitLsn = (version.CommitLsn, Encoding.UTF8.GetBytes(SourceVersion.FormatLsn(version.CommitLsn)));
        if (_changeLsn.Lsn != version.ChangeLsn) _changeLsn = (version.ChangeLsn, Encoding.UTF8.GetBytes(SourceVersion.FormatLsn(version.ChangeLsn)));
        if (_commitTime.Time != change.CommitTimeUtc) _commitTime = (change.CommitTimeUtc, Encoding.UTF8.GetBytes(ChangeHeaders.FormatTime(change.CommitTimeUtc)));
        // New headers hold none of these yet: Add, not SetString.
        headers.Add(ChangeHeaders.Op, Text(change.Op));
        headers.Add(ChangeHeaders.CommitLsn, _commitLsn.Bytes);
        headers.Add(ChangeHeaders.ChangeLsn, _changeLsn.Bytes);
        headers.Add(ChangeHeaders.CommitTime, _commitTime.Bytes);
        if (change.TxIndex is { } index) headers.Add(ChangeHeaders.TxIndex, Encoding.UTF8.GetBytes(index.ToString(CultureInfo.InvariantCulture)));
        if (change.Table is { } table) headers.Add(ChangeHeaders.Table, Text(table));
        if (change.TxId is { } txId)
        {
            if (_txId.Id != txId) _txId = (txId, Encoding.UTF8.GetBytes(txId.ToString(CultureInfo.InvariantCulture)));
            headers.Add(ChangeHeaders.TxId, _txId.Bytes);
        }
        if (!change.Epoch.IsNone)
        {
            if (_epoch.Epoch != change.Epoch) _epoch = (change.Epoch, Encoding.UTF8.GetBytes(change.Epoch.ToString()));
            headers.Add(ChangeHeaders.Epoch, _epoch.Bytes);
        }
        if (change.Unchanged is { Count: > 0 } unchanged)
            headers.Add(ChangeHeaders.Unchanged, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes([.. unchanged], ContractJson.Default.StringArray));
    }

    // Ops and table names repeat: one byte array each (bounded: a stream names few tables).
    private byte[] Text(string text)
    {
        if (_texts.TryGetValue(text, out var bytes)) return bytes;
        bytes = Encoding.UTF8.GetBytes(text);
        if (_texts.Count < 1024) _texts[text] = bytes;
        return bytes;
    }
}
