using KafkaPipeline.Tests;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Sinks;

namespace KafkaPipeline.Tests;

/// <summary>The users-table view of a sink record, for tests written against the Generator's users.</summary>
internal static class SinkRecordUsers
{
    extension(SinkRecord record)
    {
        /// <summary>The user id (the users topic's key).</summary>
        public long Id => long.Parse(record.Key, System.Globalization.CultureInfo.InvariantCulture);

        /// <summary>The row as a users row; null for a delete.</summary>
        public UserRecord? User => record.Row is null ? null : UsersEvents.ToUser(record.Row);

        public SourceVersion Version => record.Source.Version;
    }
}

/// <summary>Sink records built by hand (unit tests of what a task does with them).</summary>
internal static class TestRecords
{
    /// <param name="time">The record's commit time: what orders versions without an LSN.</param>
    public static SinkRecord Create(Confluent.Kafka.ConsumeResult<byte[]?, byte[]?> message, long id, UserRecord? user, SourceVersion version, DateTime time) =>
        new(message, id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            user is null ? null : new KafkaPipeline.Shared.Contract.RowImage(UsersEvents.Schema, UsersEvents.Values(user), null),
            new ChangeSource(null, null, default, version, null, null, time));
}

/// <summary>The user id of a lake line: its key ("__key", in every line, deletes included).</summary>
internal static class LakeLineIds
{
    public static long Of(string line) => Of(System.Text.Encoding.UTF8.GetBytes(line));

    public static long Of(byte[] line)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(line);
        return long.Parse(doc.RootElement.GetProperty("__key").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>True for a delete's line ("__deleted": "true").</summary>
    public static bool IsDelete(string line)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(line);
        return doc.RootElement.TryGetProperty("__deleted", out var d) && d.GetString() == "true";
    }
}
