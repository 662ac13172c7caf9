using System.Globalization;
using Confluent.Kafka;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.Shared;

/// <summary>Debezium's operation letters, carried in the <see cref="ChangeHeaders.Op"/> header.</summary>
public static class ChangeOp
{
    public const string Create = "c";
    public const string Update = "u";
    public const string Delete = "d";
    /// <summary>A row of the initial snapshot.</summary>
    public const string Read = "r";
}

/// <summary>
/// Headers of a change event on P_USERS (written by the source, read by the sinks, the Dashboard and any Kafka
/// Connect sink). Key = user id, value = the row as flat JSON, or null for a delete (a tombstone).
/// </summary>
public static class ChangeHeaders
{
    /// <summary>c, u, d or r (<see cref="ChangeOp"/>).</summary>
    public const string Op = "op";
    /// <summary>Commit LSN of the transaction, PostgreSQL text form ("0/16B3748").</summary>
    public const string CommitLsn = "source.commit_lsn";
    /// <summary>LSN of the change itself within its transaction (text form); "0/0" for snapshot rows.</summary>
    public const string ChangeLsn = "source.change_lsn";
    /// <summary>Commit time of the transaction, ISO-8601 UTC with microseconds ("2026-11-29T20:01:02.123456Z").</summary>
    public const string CommitTime = "source.commit_ts";
    /// <summary>
    /// Ordinal of the event within its transaction (decimal, from 0; snapshot rows: within the snapshot). With the commit
    /// LSN it names an event uniquely, which the change LSN alone does not: the rows of one multi-row insert (COPY)
    /// share one log record. The source uses it to skip what Kafka already holds after a crash.
    /// </summary>
    public const string TxIndex = "source.tx_index";
    /// <summary>The schema-qualified table the row belongs to ("public.users").</summary>
    public const string Table = "source.table";
    /// <summary>PostgreSQL's transaction id (decimal); absent for snapshot rows.</summary>
    public const string TxId = "source.txid";
    /// <summary>
    /// The history the positions belong to (<see cref="SourceEpoch"/>): LSNs are compared only within one epoch, and a
    /// higher epoch is newer than any position of a lower one.
    /// </summary>
    public const string Epoch = "source.epoch";
    /// <summary>
    /// JSON array of the columns an update left unchanged and did not send (large TOASTed values under REPLICA IDENTITY
    /// DEFAULT): the payload holds Debezium's placeholder for them; a sink keeps what it stored.
    /// </summary>
    public const string Unchanged = "source.unchanged";

    /// <summary>Writes the change headers of <paramref name="change"/> (tests and tools; the source uses <see cref="ChangeHeaderWriter"/>).</summary>
    public static void Write(Headers headers, ChangeMetadata change) => new ChangeHeaderWriter().Write(headers, change);

    public static void Write(Headers headers, string op, SourceVersion version, DateTime commitTimeUtc, long? txIndex = null) =>
        Write(headers, new ChangeMetadata(op, version, commitTimeUtc, txIndex));

    /// <summary>The event's ordinal within its transaction, or null when the record carries none.</summary>
    public static long? ReadTxIndex(Headers? headers) =>
        long.TryParse(PipelineHeaders.GetString(headers, TxIndex), NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : null;

    public static string? ReadOp(Headers? headers) => PipelineHeaders.GetString(headers, Op);

    public static string? ReadTable(Headers? headers) => PipelineHeaders.GetString(headers, Table);

    public static long? ReadTxId(Headers? headers) =>
        long.TryParse(PipelineHeaders.GetString(headers, TxId), NumberStyles.None, CultureInfo.InvariantCulture, out var x) ? x : null;

    /// <summary>The record's epoch, or <see cref="SourceEpoch.None"/> when it carries none (or one that does not parse).</summary>
    public static SourceEpoch ReadEpoch(Headers? headers) =>
        SourceEpoch.TryParse(PipelineHeaders.GetString(headers, Epoch), out var epoch) ? epoch : SourceEpoch.None;

    /// <summary>The columns the <see cref="Unchanged"/> header names, or null when it is absent or not a JSON array of names.</summary>
    public static IReadOnlyList<string>? ReadUnchanged(Headers? headers)
    {
        if (headers is null || !headers.TryGetLastBytes(Unchanged, out var bytes) || bytes is null) return null;
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize(bytes, ContractJson.Default.StringArray);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>The record's version, or <see cref="SourceVersion.None"/> when it carries none (polling modes).</summary>
    public static SourceVersion ReadVersion(Headers? headers) =>
        SourceVersion.TryParseLsn(PipelineHeaders.GetString(headers, CommitLsn), out var commit)
            ? new SourceVersion(commit,
                SourceVersion.TryParseLsn(PipelineHeaders.GetString(headers, ChangeLsn), out var change) ? change : 0)
            : SourceVersion.None;

    /// <summary>The PostgreSQL commit time, or null when the record carries none.</summary>
    public static DateTime? ReadCommitTime(Headers? headers) =>
        PipelineHeaders.GetString(headers, CommitTime) is { } text &&
        DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t)
            ? t
            : null;

    public static string FormatTime(DateTime utc) =>
        DateTime.SpecifyKind(utc.Kind == DateTimeKind.Local ? utc.ToUniversalTime() : utc, DateTimeKind.Utc)
            .ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
}

/// <summary>What the headers of one change event say (<see cref="ChangeHeaders"/>); null members are not written.</summary>
public readonly record struct ChangeMetadata(
    string Op,
    SourceVersion Version,
    DateTime CommitTimeUtc,
    long? TxIndex = null,
    string? Table = null,
    long? TxId = null,
    SourceEpoch Epoch = default,
    IReadOnlyCollection<string>? Unchanged = null);
