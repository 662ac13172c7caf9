using System.Text;
using System.Text.Json;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Sinks;

namespace KafkaPipeline.S3SinkService;

/// <summary>
/// One record as the lake stores it, whatever the file format (JSON lines: <see cref="LakeLines"/>): the row's fields in
/// schema order with their typed values, protected fields replaced by their keyed hash, the fields an update did not
/// send, and the change metadata. A delete has the key fields (when the table's schema is known) and
/// <see cref="LakeMetadata.Deleted"/>. Built by <see cref="LakeRecords"/>.
/// </summary>
public sealed record LakeRecord(IReadOnlyList<LakeField> Fields, IReadOnlyList<string> Unchanged, LakeMetadata Metadata);

/// <summary>A field of a lake record.</summary>
/// <param name="Value">The value in its kind's .NET representation (<see cref="ValueKind"/>), null for NULL; when
/// <paramref name="Protected"/>, the keyed hash of its text (a string).</param>
public readonly record struct LakeField(FieldSchema Schema, object? Value, bool Protected);

/// <summary>Where a record comes from (its change headers) and where it was in Kafka; null where the record does not say.</summary>
/// <param name="Key">The message key's text (<see cref="EventKeys"/>), hashed when a key field is protected.</param>
/// <param name="CommitLsn">PostgreSQL's text form ("0/16B3748"); null for records without an LSN (the polling modes).</param>
/// <param name="CommitTime">ISO-8601 UTC with microseconds.</param>
public sealed record LakeMetadata(string? Op, string? Table, string Key, string? Epoch, string? CommitLsn, string? ChangeLsn, long? TxIndex,
    string? CommitTime, int Partition, long Offset, bool Deleted)
{
    // The members' names in the lake, after the row's fields (Debezium's "__" convention).
    public const string UnchangedName = "__unchanged";
    public const string OpName = "__op";
    public const string TableName = "__table";
    public const string KeyName = "__key";
    public const string EpochName = "__epoch";
    public const string CommitLsnName = "__commit_lsn";
    public const string ChangeLsnName = "__change_lsn";
    public const string TxIndexName = "__tx_index";
    public const string CommitTimeName = "__commit_ts";
    public const string PartitionName = "__kafka_partition";
    public const string OffsetName = "__kafka_offset";
    public const string DeletedName = "__deleted";
}

/// <summary>
/// Builds <see cref="LakeRecord"/>s from sink records. Keeps the latest schema of each table it saw a row of, to give a
/// delete (a tombstone carries only the key) its key fields; before the first row of a table since the start, a delete
/// has only <see cref="LakeMetadata.KeyName"/>. Not thread-safe: one per task.
/// </summary>
public sealed class LakeRecords(FieldProtector protector)
{
    private readonly Dictionary<string, TableSchema> _latest = new(StringComparer.Ordinal);
    private TableSchema? _last; // a topic carries one table: a tombstone without a table header is of the last row's table

    public LakeRecord Of(SinkRecord record)
    {
        var table = record.Source.Table ?? record.Row?.Schema.Table;
        if (record.Row is { } row)
        {
            _last = row.Schema;
            if (table is not null && _latest.Count < 1024) _latest[table] = row.Schema;
            return new LakeRecord(RowFields(row, out var unchanged), unchanged, Metadata(record, table, row.Schema));
        }
        var schema = table is null ? _last : _latest.GetValueOrDefault(table);
        var keyFields = schema is null ? null : KeyFields(schema, record.Key);
        return new LakeRecord(keyFields ?? [], [], Metadata(record, table, schema));
    }

    private List<LakeField> RowFields(RowImage row, out IReadOnlyList<string> unchanged)
    {
        var fields = new List<LakeField>(row.Schema.Fields.Count);
        List<string>? notSent = null;
        for (var i = 0; i < row.Schema.Fields.Count; i++)
        {
            var field = row.Schema.Fields[i];
            if (row.IsUnchanged(i)) (notSent ??= []).Add(field.Name);
            else fields.Add(Field(field, row.Values[i]));
        }
        unchanged = notSent ?? (IReadOnlyList<string>)[];
        return fields;
    }

    private LakeField Field(FieldSchema field, object? value) =>
        value is not null && protector.IsProtected(field.Name)
            ? new LakeField(field, protector.Hash(ConnectValueJson.ToText(field, value)), Protected: true)
            : new LakeField(field, value, Protected: false);

    /// <summary>The key's fields read back from the key text with the table's schema; null when it does not fit that schema.</summary>
    private List<LakeField>? KeyFields(TableSchema schema, string key)
    {
        var keys = schema.KeyIndexes;
        if (keys.Count == 0) return null;
        if (keys.Count == 1 && EventKeys.IsPlain(schema.Fields[keys[0]]))
        {
            var field = schema.Fields[keys[0]];
            return ConnectValueJson.TryParseText(field, key, out var value) ? [Field(field, value)] : null;
        }
        try
        {
            var values = new object?[schema.Fields.Count];
            var seen = 0;
            var r = new Utf8JsonReader(Encoding.UTF8.GetBytes(key));
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject) return null;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                var i = schema.IndexOf(r.GetString()!);
                if (i < 0 || !schema.Fields[i].IsKey) return null;
                r.Read();
                values[i] = ConnectValueJson.Read(ref r, schema.Fields[i]);
                seen++;
            }
            return seen == keys.Count ? [.. keys.Select(i => Field(schema.Fields[i], values[i]))] : null;
        }
        catch (Exception e) when (e is JsonException or InvalidRecordException or InvalidOperationException)
        {
            return null;
        }
    }

    private LakeMetadata Metadata(SinkRecord record, string? table, TableSchema? schema)
    {
        var source = record.Source;
        var version = source.Version;
        return new LakeMetadata(
            source.Op ?? (record.IsDelete ? ChangeOp.Delete : null),
            table,
            Key(record.Key, schema),
            source.Epoch.IsNone ? null : source.Epoch.ToString(),
            version.HasLsn ? SourceVersion.FormatLsn(version.CommitLsn) : null,
            version.HasLsn ? SourceVersion.FormatLsn(version.ChangeLsn) : null,
            source.TxIndex,
            source.CommitTime is { } t ? ChangeHeaders.FormatTime(t) : null,
            record.TopicPartition.Partition.Value,
            record.Offset,
            record.IsDelete);
    }

    // The key holds the key fields' values: a protected one is hashed there too. A composite key (a JSON object) is
    // protected member by member even without a schema; a plain key can only be recognised as protected with one.
    private string Key(string key, TableSchema? schema)
    {
        if (key.StartsWith('{')) return Encoding.UTF8.GetString(protector.Protect(Encoding.UTF8.GetBytes(key)));
        return schema?.KeyIndexes is [var only] && protector.IsProtected(schema.Fields[only].Name) ? protector.Hash(key) : key;
    }
}
