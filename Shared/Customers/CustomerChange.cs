using System.Collections.Concurrent;
using System.Text.Json;
using Confluent.Kafka;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Sinks;

namespace KafkaPipeline.Shared.Customers;

/// <summary>
/// What the live views need from one P_USERS message: the user id, and for a row (not a tombstone) the first name, the
/// country (<c>residence</c>) and the creation time; plus when PostgreSQL committed the change, for the latency.
/// Read with a forward-only JSON reader that keeps only these fields: a replay of millions of messages allocates
/// little, and the other fields (ssn, address, mail, ...) are never held.
/// </summary>
public readonly record struct CustomerChange(long Id, bool Deleted, string? FirstName, string? Country, DateTime CreatedAt, DateTime? CommittedAt, bool CommitFromHeader)
{
    /// <summary>
    /// The change a message carries, or null with <paramref name="error"/> when it is not a user change (no key, a
    /// value that is not a user row). Key = id as text; a null value is a delete (tombstone).
    /// </summary>
    public static CustomerChange? From(Message<byte[]?, byte[]?> message, out string? error)
    {
        error = null;
        var commitTime = ChangeHeaders.ReadCommitTime(message.Headers);
        if (message.Value is null)
        {
            if (!SinkRecordReader.TryParseId(message.Key, out var id))
            {
                error = "a tombstone without a numeric user id as key";
                return null;
            }
            return new CustomerChange(id, true, null, null, default, commitTime, commitTime is not null);
        }
        try
        {
            return ReadRow(message.Value, commitTime, out error);
        }
        catch (JsonException e)
        {
            error = $"value is not valid JSON (at byte {e.BytePositionInLine})";
            return null;
        }
        catch (Exception e)
        {
            // A number that is no id (1.5), text that is not valid Unicode (a lone surrogate), ...: not a user change.
            error = $"value is not a user change ({e.GetType().Name})";
            return null;
        }
    }

    private static CustomerChange? ReadRow(ReadOnlySpan<byte> value, DateTime? commitTime, out string? error)
    {
        // The row is the payload of Kafka Connect's envelope; a flat JSON row (a stranger's) is read as it is.
        var json = value;
        if (IsEnvelope(value)) json = value[ChangeEventReader.Split(value).Payload];
        var reader = new Utf8JsonReader(json);
        long id = 0;
        string? name = null, residence = null;
        DateTime created = default, updated = default;
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            error = "value is not a JSON object";
            return null;
        }
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("id"u8)) { reader.Read(); id = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var n) ? n : 0; }
            else if (reader.ValueTextEquals("name"u8)) { reader.Read(); name = reader.TokenType == JsonTokenType.String ? ReadFirstName(ref reader) : null; }
            else if (reader.ValueTextEquals("residence"u8)) { reader.Read(); residence = reader.TokenType == JsonTokenType.String ? Intern(ref reader) : null; }
            else if (reader.ValueTextEquals("created_at"u8)) { reader.Read(); created = ReadTime(ref reader); }
            else if (reader.ValueTextEquals("updated_at"u8)) { reader.Read(); updated = ReadTime(ref reader); }
            else { reader.Read(); reader.Skip(); }
        }
        error = id <= 0 ? "field 'id' is missing or not a positive integer"
            : residence is null ? "field 'residence' is missing"
            : created == default ? "field 'created_at' is missing"
            : null;
        if (error is not null) return null;
        // Without the CDC source's commit time, updated_at (the start of the writing transaction) stands in.
        return new CustomerChange(id, false, name ?? "", residence, created,
            commitTime ?? (updated == default ? null : updated), commitTime is not null);
    }

    private static bool IsEnvelope(ReadOnlySpan<byte> value)
    {
        var reader = new Utf8JsonReader(value);
        return reader.Read() && reader.TokenType == JsonTokenType.StartObject && reader.Read()
            && reader.TokenType == JsonTokenType.PropertyName && (reader.ValueTextEquals("schema"u8) || reader.ValueTextEquals("payload"u8));
    }

    private static DateTime ReadTime(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.String && reader.TryGetDateTimeOffset(out var t) ? t.UtcDateTime : default;

    // Country names repeat (a few hundred for millions of users): one string each, found without allocating. Bounded,
    // so a topic full of made-up countries cannot grow it without end.
    private const int MaxCountries = 10_000;
    private const int MaxStackChars = 256;
    private static readonly ConcurrentDictionary<string, string> s_countries = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> s_countryLookup =
        s_countries.GetAlternateLookup<ReadOnlySpan<char>>();

    private static string Intern(ref Utf8JsonReader reader)
    {
        if (ValueBytes(ref reader) > MaxStackChars) return reader.GetString()!;
        Span<char> buffer = stackalloc char[MaxStackChars];
        var chars = buffer[..reader.CopyString(buffer)];
        if (s_countryLookup.TryGetValue(chars, out var known)) return known;
        var name = chars.ToString();
        return s_countries.Count < MaxCountries ? s_countries.GetOrAdd(name, name) : name;
    }

    /// <summary>The first word of the full name: the live screen shows no more of a person than that.</summary>
    private static string ReadFirstName(ref Utf8JsonReader reader)
    {
        if (ValueBytes(ref reader) > MaxStackChars) return FirstWord(reader.GetString().AsSpan());
        Span<char> buffer = stackalloc char[MaxStackChars];
        return FirstWord(buffer[..reader.CopyString(buffer)]);
    }

    private static string FirstWord(ReadOnlySpan<char> fullName)
    {
        var trimmed = fullName.Trim();
        var space = trimmed.IndexOf(' ');
        return (space < 0 ? trimmed : trimmed[..space]).ToString();
    }

    // A UTF-8 value never has fewer bytes than UTF-16 characters: its byte length bounds the buffer it needs.
    private static long ValueBytes(ref Utf8JsonReader reader) =>
        reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
}
