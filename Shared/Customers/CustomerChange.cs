using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Sinks;

namespace KafkaPipeline.Shared.Customers;

/// <summary>
/// What the live views need from one P_USERS message: the user id, and for a row (not a tombstone) the first name, the
/// country (<c>residence</c>) and the creation time; plus when PostgreSQL committed the change, for the latency.
/// Read with a forward-only JSON reader that keeps only these fields, by name, from the payload of Kafka Connect's
/// envelope (or a flat JSON row): a replay of millions of messages allocates little, any other column is skipped, and
/// the other fields (ssn, address, mail, ...) are never held. What is kept is bounded: the first name and the country
/// are capped in length and cleaned of control characters before anything is kept or shown.
/// </summary>
public readonly record struct CustomerChange(long Id, bool Deleted, string? FirstName, string? Country, DateTime CreatedAt, DateTime? CommittedAt, bool CommitFromHeader)
{
    /// <summary>The country of a user whose residence is NULL, missing or empty.</summary>
    public const string UnknownCountry = "unknown";

    /// <summary>The country of a user whose residence cannot be a country name (too long, control characters, not text).</summary>
    public const string OtherCountry = "other";

    /// <summary>Longest residence kept as it is (the longest country name Bogus writes has 48 characters).</summary>
    public const int MaxCountryLength = 64;

    /// <summary>Longest first name kept: the live screen shows no more.</summary>
    public const int MaxFirstNameLength = 32;

    /// <summary>
    /// The change a message carries, or null with <paramref name="error"/> when it is not a user change (no key, a
    /// value that is not a user row, a key that is not its id). Key = id as text; a null value is a delete
    /// (tombstone). Never throws: whatever is wrong with a message is its error.
    /// </summary>
    public static CustomerChange? From(Message<byte[]?, byte[]?> message, out string? error)
    {
        try
        {
            return Read(message, out error);
        }
        catch (JsonException e)
        {
            error = $"value is not valid JSON (at byte {e.BytePositionInLine})";
            return null;
        }
        catch (InvalidRecordException e)
        {
            error = e.Message; // names the field and the problem, never a value
            return null;
        }
        catch (Exception e)
        {
            // Text that is not valid Unicode (a lone surrogate), a value nested too deep, ...: not a user change.
            error = $"value is not a user change ({e.GetType().Name})";
            return null;
        }
    }

    private static CustomerChange? Read(Message<byte[]?, byte[]?> message, out string? error)
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
        var row = ReadRow(message.Value, out error);
        if (row is not { } r) return null;
        if (message.Key is { } key && (!SinkRecordReader.TryParseId(key, out var keyId) || keyId != r.Id))
        {
            error = "the key is not the row's id";
            return null;
        }
        // Without the CDC source's commit time, updated_at (the start of the writing transaction) stands in.
        return new CustomerChange(r.Id, false, r.FirstName, r.Country, r.Created,
            commitTime ?? (r.Updated == default ? null : r.Updated), commitTime is not null);
    }

    private readonly record struct Row(long Id, string FirstName, string Country, DateTime Created, DateTime Updated);

    private static Row? ReadRow(ReadOnlySpan<byte> value, out string? error)
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
            else if (reader.ValueTextEquals("residence"u8)) { reader.Read(); residence = ReadCountry(ref reader); }
            else if (reader.ValueTextEquals("created_at"u8)) { reader.Read(); created = ReadTime(ref reader); }
            else if (reader.ValueTextEquals("updated_at"u8)) { reader.Read(); updated = ReadTime(ref reader); }
            else { reader.Read(); reader.Skip(); }
        }
        if (reader.TokenType != JsonTokenType.EndObject) throw new JsonException("the row does not end", null, null, reader.BytesConsumed);
        error = id <= 0 ? "field 'id' is missing or not a positive integer"
            : created == default ? "field 'created_at' is missing or not a time"
            : null;
        return error is null ? new Row(id, name ?? "", residence ?? UnknownCountry, created, updated) : null;
    }

    private static bool IsEnvelope(ReadOnlySpan<byte> value)
    {
        var reader = new Utf8JsonReader(value);
        return reader.Read() && reader.TokenType == JsonTokenType.StartObject && reader.Read()
            && reader.TokenType == JsonTokenType.PropertyName && (reader.ValueTextEquals("schema"u8) || reader.ValueTextEquals("payload"u8));
    }

    /// <summary>A ZonedTimestamp (ISO-8601 text) or a MicroTimestamp (µs since 1970); anything else: none.</summary>
    private static DateTime ReadTime(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.String)
            return reader.TryGetDateTimeOffset(out var t) ? t.UtcDateTime : default;
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var micros) && micros > 0 && micros < s_maxMicros)
            return DateTime.UnixEpoch.AddTicks(micros * 10);
        reader.Skip();
        return default;
    }

    private static readonly long s_maxMicros = (DateTime.MaxValue.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    // Country names repeat (a few hundred for millions of users): one string each, found without allocating. Bounded
    // in number and length, so a topic full of made-up countries cannot grow it without end.
    private const int MaxInterned = 1_000;
    private static readonly ConcurrentDictionary<string, string> s_countries = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> s_countryLookup =
        s_countries.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>The residence, trimmed; <see cref="UnknownCountry"/> for null or empty, <see cref="OtherCountry"/> for what cannot be a country name.</summary>
    private static string ReadCountry(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Null) return UnknownCountry;
        if (reader.TokenType != JsonTokenType.String)
        {
            reader.Skip();
            return OtherCountry;
        }
        // A UTF-8 value never has fewer bytes than UTF-16 characters, and an escape (\uXXXX) has six bytes per
        // character at most: a value past that bound is too long without being read.
        if (ValueBytes(ref reader) > MaxCountryLength * 6) return OtherCountry;
        Span<char> buffer = stackalloc char[MaxCountryLength * 6];
        var chars = buffer[..reader.CopyString(buffer)].Trim();
        if (chars.IsEmpty) return UnknownCountry;
        if (chars.Length > MaxCountryLength || HasControlCharacters(chars)) return OtherCountry;
        if (s_countryLookup.TryGetValue(chars, out var known)) return known;
        var country = chars.ToString();
        return s_countries.Count < MaxInterned ? s_countries.GetOrAdd(country, country) : country;
    }

    /// <summary>The first word of the full name, capped, without control characters.</summary>
    private static string ReadFirstName(ref Utf8JsonReader reader)
    {
        const int maxStackChars = 256;
        if (ValueBytes(ref reader) > maxStackChars) return FirstWord(reader.GetString().AsSpan());
        Span<char> buffer = stackalloc char[maxStackChars];
        return FirstWord(buffer[..reader.CopyString(buffer)]);
    }

    private static string FirstWord(ReadOnlySpan<char> fullName)
    {
        var trimmed = fullName.Trim();
        var end = 0;
        while (end < trimmed.Length && !char.IsWhiteSpace(trimmed[end])) end++;
        var word = trimmed[..end];
        if (word.Length > MaxFirstNameLength)
            word = word[..(char.IsHighSurrogate(word[MaxFirstNameLength - 1]) ? MaxFirstNameLength - 1 : MaxFirstNameLength)];
        if (!HasControlCharacters(word)) return word.ToString();
        Span<char> clean = stackalloc char[word.Length];
        var n = 0;
        foreach (var c in word)
        {
            if (!IsControl(c)) clean[n++] = c;
        }
        return clean[..n].ToString();
    }

    // Control and format characters (terminal escapes, bidirectional overrides) have no place in a name on a screen.
    private static bool IsControl(char c) =>
        char.IsControl(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.Format;

    private static bool HasControlCharacters(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (IsControl(c)) return true;
        }
        return false;
    }

    private static long ValueBytes(ref Utf8JsonReader reader) =>
        reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
}
