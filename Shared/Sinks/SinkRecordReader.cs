using System.Text;
using Confluent.Kafka;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.Shared.Sinks;

/// <summary>
/// Turns topic messages into what a task stores: a row version (Kafka Connect's JSON with schema, read by
/// <see cref="ChangeEventReader"/>), or a delete when the value is null (a tombstone). Anything else, and any exception
/// while reading a record's value, key or headers, makes that record errant (stage "deserialize": it goes to the
/// dead-letter topic) and never stops the sink. Both sinks read records here, so they agree on every one.
/// </summary>
public sealed class SinkRecordReader(ChangeEventReader events)
{
    public const string Stage = "deserialize";
    private const string NoKey = "the record has no key (a row's key is its primary key)";
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // The latest schema seen per table, to check a tombstone's key (a tombstone has no schema of its own).
    private readonly Dictionary<string, TableSchema> _latest = new(StringComparer.Ordinal);
    private TableSchema? _last; // a topic carries one table: a tombstone without a table header is of the last row's table
    private readonly Lock _lock = new();

    public SinkRecordReader() : this(new ChangeEventReader()) { }

    public (List<SinkRecord> Records, List<ErrantRecord> Errant) Read(IReadOnlyList<ConsumeResult<byte[]?, byte[]?>> messages)
    {
        var records = new List<SinkRecord>(messages.Count);
        var errant = new List<ErrantRecord>();
        foreach (var message in messages)
        {
            try
            {
                records.Add(Read(message));
            }
            catch (InvalidRecordException e)
            {
                errant.Add(new ErrantRecord(message, e, Stage));
            }
            catch (Exception e)
            {
                // Not a message of ours: keep its class, never its text (it may quote the value).
                errant.Add(new ErrantRecord(message, new InvalidRecordException($"{e.GetType().Name} while reading the record"), Stage));
            }
        }
        return (records, errant);
    }

    public SinkRecord Read(ConsumeResult<byte[]?, byte[]?> message)
    {
        var headers = message.Message.Headers;
        var source = ChangeSource.From(headers);
        var keyBytes = message.Message.Key;
        // An empty key is a key: a text primary key may be ''. Only a row's value or its table's schema can say it is one.
        if (keyBytes is null) throw new InvalidRecordException(NoKey);
        string key;
        try
        {
            key = s_strictUtf8.GetString(keyBytes);
        }
        catch (DecoderFallbackException)
        {
            throw new InvalidRecordException("the key is not UTF-8 text");
        }

        var value = message.Message.Value;
        if (value is null)
        {
            TableSchema? latest;
            lock (_lock) latest = source.Table is { } table ? _latest.GetValueOrDefault(table) : _last;
            if (latest is not null) CheckTombstoneKey(latest, key);
            else if (key.Length == 0) throw new InvalidRecordException(NoKey);
            return new SinkRecord(message, key, null, source);
        }
        if (value.Length == 0) throw new InvalidRecordException("value is empty (neither a row nor a tombstone)");

        var row = events.Read(value, Unchanged(headers));
        var expected = EventKeys.Key(row.Schema, row.Values)
            ?? throw new InvalidRecordException("the value's schema marks no key field (parameter __kafkapipeline.key)");
        if (!expected.AsSpan().SequenceEqual(keyBytes))
            throw new InvalidRecordException("the key does not match the key fields of the value");
        lock (_lock)
        {
            _last = row.Schema;
            if ((source.Table ?? row.Schema.Table) is { } name && (_latest.Count < 1024 || _latest.ContainsKey(name))) _latest[name] = row.Schema;
        }
        return new SinkRecord(message, key, row, source);
    }

    // A broken list must not be ignored: a bytes or decimal field's placeholder is base64 like any value, only the header
    // tells them apart, so without it the placeholder's bytes would be stored as the column's value.
    private static IReadOnlyList<string>? Unchanged(Headers? headers)
    {
        if (headers is null || !headers.TryGetLastBytes(ChangeHeaders.Unchanged, out var bytes) || bytes is null) return null;
        return ChangeHeaders.ReadUnchanged(headers) is { } names && !names.Contains(null!)
            ? names
            : throw new InvalidRecordException($"the {ChangeHeaders.Unchanged} header is not a JSON array of column names");
    }

    private static void CheckTombstoneKey(TableSchema schema, string key)
    {
        var keys = schema.KeyIndexes;
        if (keys.Count == 1 && EventKeys.IsPlain(schema.Fields[keys[0]]))
        {
            if (!ConnectValueJson.TryParseText(schema.Fields[keys[0]], key, out _))
                throw new InvalidRecordException($"a tombstone whose key is not a {schema.Fields[keys[0]].ConnectType} (the key field '{schema.Fields[keys[0]].Name}')");
        }
        else if (keys.Count > 0 && !(key.StartsWith('{') && key.EndsWith('}')))
        {
            throw new InvalidRecordException("a tombstone whose key is not a JSON object of the key fields");
        }
    }

    /// <summary>The message key as a user id: its decimal digits, the whole key, above 0 (the live views' users topic).</summary>
    public static bool TryParseId(byte[]? key, out long id)
    {
        id = 0;
        return key is not null && System.Buffers.Text.Utf8Parser.TryParse(key, out id, out var consumed) && consumed == key.Length && id > 0;
    }
}
