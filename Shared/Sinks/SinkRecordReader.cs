using System.Buffers.Text;
using Confluent.Kafka;

namespace KafkaPipeline.Shared.Sinks;

/// <summary>
/// Turns P_USERS messages into what a task stores: a user record, or a delete when the value is null (a tombstone,
/// keyed by the user id). What is neither goes to the dead-letter topic, stage "deserialize". Both sinks read the
/// change-event contract here (<see cref="ChangeHeaders"/>), so they agree on every record.
/// </summary>
public static class SinkRecordReader
{
    public const string Stage = "deserialize";

    public static (List<SinkRecord> Records, List<ErrantRecord> Errant) Read(IReadOnlyList<ConsumeResult<byte[]?, byte[]?>> messages)
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
        }
        return (records, errant);
    }

    public static SinkRecord Read(ConsumeResult<byte[]?, byte[]?> message)
    {
        var headers = message.Message.Headers;
        var version = ChangeHeaders.ReadVersion(headers);
        var commitTime = ChangeHeaders.ReadCommitTime(headers);
        var value = message.Message.Value;
        if (value is null)
        {
            // A tombstone: the key is the id of the deleted user. Its time is the commit time, else when Kafka got it.
            if (!TryParseId(message.Message.Key, out var id))
                throw new InvalidRecordException("a tombstone (null value) whose key is not a user id: nothing to delete");
            var at = commitTime ?? message.Message.Timestamp.UtcDateTime;
            return new SinkRecord(message, id, null, version, at) { CommitTime = commitTime };
        }
        if (value.Length == 0) throw new InvalidRecordException("value is empty (neither a user record nor a tombstone)");
        var user = UserRecordJson.Deserialize(value);
        return new SinkRecord(message, user.Id, user, version, user.UpdatedAt) { CommitTime = commitTime };
    }

    /// <summary>The message key as a user id: its decimal digits, the whole key, above 0.</summary>
    internal static bool TryParseId(byte[]? key, out long id)
    {
        id = 0;
        return key is not null && Utf8Parser.TryParse(key, out id, out var consumed) && consumed == key.Length && id > 0;
    }
}
