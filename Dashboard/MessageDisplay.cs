using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.Dashboard;

/// <summary>
/// How the topic browser shows one message, whatever it holds (not JSON, invalid UTF-8, huge): never throws, and every
/// text it returns is bounded in bytes. Protected fields (Protection:Fields) are replaced by their keyed hash as the lake
/// stores them; then, unless <see cref="DashboardOptions.RevealPersonalData"/> is on, every personal field of the
/// message's table (<see cref="DashboardOptions.PersonalFieldsOf"/>; one display per table) is masked: by name, case-insensitively, at any depth of the payload
/// of Kafka Connect's envelope (the schema stays visible: it names fields, it holds no values) or of a flat JSON value,
/// whatever its JSON type. A value in which fields cannot be found (not JSON) is not shown unless revealing is on.
/// </summary>
public sealed class MessageDisplay(DashboardOptions options, FieldProtector protector, TableName table)
{
    public const string Mask = "***";
    private static readonly byte[] s_maskJson = Encoding.UTF8.GetBytes($"\"{Mask}\"");
    private static readonly UTF8Encoding s_strictUtf8 = new(false, throwOnInvalidBytes: true);
    private readonly HashSet<string> _personal = new(options.PersonalFieldsOf(table), StringComparer.OrdinalIgnoreCase);

    public MessageView Show(Message<byte[]?, byte[]?> message, long offset)
    {
        try
        {
            var headers = new List<HeaderView>();
            foreach (var h in message.Headers ?? [])
                headers.Add(new HeaderView(Cut(h.Key, options.MaxValueBytes), Text(h.GetValueBytes(), out _)));
            var key = message.Key is null ? null : Displayed(message.Key) is { } k ? Text(k, out _) : HiddenKey;
            if (message.Value is null) return new MessageView(offset, message.Timestamp.UtcDateTime, key, headers, null, 0, null);
            var shown = Displayed(message.Value);
            if (shown is null)
                return new MessageView(offset, message.Timestamp.UtcDateTime, key, headers, null, message.Value.Length,
                    $"value hidden: {message.Value.Length:N0} bytes that are not JSON, so its personal fields cannot be masked (Dashboard:RevealPersonalData shows it)");
            var value = Text(shown, out var cut);
            return new MessageView(offset, message.Timestamp.UtcDateTime, key, headers, value, message.Value.Length,
                cut ? $"value cut at {options.MaxValueBytes:N0} of {shown.Length:N0} bytes" : null);
        }
        catch (Exception e)
        {
            // Nothing of a message may stop the browser: say that it could not be shown, with no byte of it.
            return new MessageView(offset, default, null, [], null, message.Value?.Length ?? 0, $"message not shown ({e.GetType().Name})");
        }
    }

    public const string HiddenKey = "(hidden: not JSON)";

    /// <summary>The bytes to show: protected, then masked; null when they are not JSON (no field can be found to mask).</summary>
    private byte[]? Displayed(byte[] bytes)
    {
        var protectedBytes = protector.Protect(bytes);
        if (options.RevealPersonalData || _personal.Count == 0) return protectedBytes;
        return TryMask(protectedBytes, out var masked) ? masked : null;
    }

    /// <summary>Replaces the value of every personal field by "***"; false when the bytes are not one JSON document.</summary>
    public bool TryMask(byte[] json, out byte[] masked)
    {
        masked = json;
        var within = Range.All;
        try
        {
            within = ChangeEventReader.Split(json).Payload;
        }
        catch (Exception e) when (e is InvalidRecordException or JsonException or InvalidOperationException)
        {
            // Not an envelope: a flat JSON value, masked as a whole.
        }
        var (start, length) = within.GetOffsetAndLength(json.Length);
        List<(int Start, int End)> spans = [];
        try
        {
            var reader = new Utf8JsonReader(json.AsSpan(start, length), new JsonReaderOptions { MaxDepth = 256 });
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName) continue;
                var personal = _personal.Contains(reader.GetString()!);
                reader.Read();
                if (!personal) continue;
                var from = (int)reader.TokenStartIndex;
                reader.Skip();
                spans.Add((start + from, start + (int)reader.BytesConsumed));
            }
            if (reader.BytesConsumed != length) return false;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return false;
        }
        if (spans.Count == 0) return true;
        var output = new List<byte>(json.Length);
        var at = 0;
        foreach (var (from, to) in spans)
        {
            output.AddRange(json.AsSpan(at, from - at));
            output.AddRange(s_maskJson);
            at = to;
        }
        output.AddRange(json.AsSpan(at));
        masked = [.. output];
        return true;
    }

    /// <summary>UTF-8 text when the bytes are valid UTF-8, else base64 marked as such; either way at most MaxValueBytes of it.</summary>
    private string? Text(byte[]? bytes, out bool cut)
    {
        cut = false;
        if (bytes is null) return null;
        var limit = options.MaxValueBytes;
        try
        {
            var text = s_strictUtf8.GetString(bytes);
            if (bytes.Length <= limit) return text;
            cut = true;
            return Cut(text, limit);
        }
        catch (DecoderFallbackException)
        {
            var raw = bytes.Length <= limit * 3 / 4 ? bytes : bytes[..(limit * 3 / 4)];
            cut = raw.Length < bytes.Length;
            return "base64:" + Convert.ToBase64String(raw);
        }
    }

    /// <summary>The longest prefix of <paramref name="text"/> of at most <paramref name="bytes"/> UTF-8 bytes (never half a character).</summary>
    internal static string Cut(string text, int bytes)
    {
        var used = 0;
        var i = 0;
        while (i < text.Length)
        {
            var width = char.IsSurrogatePair(text, i) ? 2 : 1;
            var size = width == 2 ? 4 : text[i] < 0x80 ? 1 : text[i] < 0x800 ? 2 : 3;
            if (used + size > bytes) break;
            used += size;
            i += width;
        }
        return text[..i];
    }

    /// <summary>What a message costs in a response, roughly (its texts' UTF-8 bytes).</summary>
    public static long Size(MessageView m) =>
        Encoding.UTF8.GetByteCount(m.Value ?? "") + Encoding.UTF8.GetByteCount(m.Key ?? "")
        + m.Headers.Sum(h => Encoding.UTF8.GetByteCount(h.Key) + Encoding.UTF8.GetByteCount(h.Value ?? "")) + 64;
}
