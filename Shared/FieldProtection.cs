using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace KafkaPipeline.Shared;

/// <summary>
/// Settings "Protection:*": which fields of a user record are private and the key that pseudonymises them. Places that
/// do not need the clear value (the S3 lake, the dead-letter topic, the topic browser) hold a keyed hash instead, so
/// analysts can still count and join on it without being able to read it back.
/// </summary>
public sealed class ProtectionOptions : IValidatedOptions
{
    public const string Section = "Protection";

    /// <summary>
    /// Secret for HMAC-SHA256 (at least 16 characters). The AppHost passes a generated secret parameter; the default is
    /// a local development value only, and the services log a warning when they run with it.
    /// </summary>
    public string Key { get; set; } = DevelopmentKey;

    /// <summary>JSON field names replaced by their keyed hash (default: ssn).</summary>
    public string[] Fields { get; set; } = ["ssn"];

    public const string DevelopmentKey = "kafkapipeline-local-development-only";

    public bool UsesDevelopmentKey => Key == DevelopmentKey;

    public IEnumerable<string> Validate(string section)
    {
        if (string.IsNullOrEmpty(Key) || Key.Length < 16)
            yield return $"{section}:Key must be a secret of at least 16 characters.";
        if (Fields is null || Fields.Any(string.IsNullOrWhiteSpace))
            yield return $"{section}:Fields must be a list of field names (empty entries are not allowed).";
    }
}

/// <summary>
/// Replaces the protected fields of a JSON object by "hmac-sha256:&lt;hex&gt;" of their value, in place: every other byte
/// of the document stays as it was (the lake keeps the record as produced, but for the pseudonyms). Values that are not
/// JSON at all can be sealed (AES-256-GCM with a key derived from the same secret) so that they travel without clear
/// private data but can still be read back by whoever holds the key.
/// </summary>
public sealed class FieldProtector(ProtectionOptions options)
{
    public const string Prefix = "hmac-sha256:";
    private static readonly byte[] s_sealMagic = "KPS1"u8.ToArray();
    private const int NonceSize = 12, TagSize = 16;
    private readonly byte[] _key = Encoding.UTF8.GetBytes(options.Key);
    private readonly byte[] _sealKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(options.Key), 32,
        info: "kafkapipeline seal v1"u8.ToArray());
    private readonly HashSet<string> _fields = new(options.Fields, StringComparer.Ordinal);
    private readonly byte[][] _fieldNames = [.. options.Fields.Select(f => Encoding.UTF8.GetBytes(f))];

    public IReadOnlyCollection<string> Fields => _fields;

    /// <summary>The keyed hash of one value, as stored in place of the clear text.</summary>
    public string Hash(string value) =>
        Prefix + Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(value)));

    /// <summary>
    /// The JSON document with every protected top-level string field replaced by its hash (values already hashed are
    /// left alone). Anything that is not a JSON object comes back unchanged: the caller decides what invalid input
    /// means, but no clear value of a valid record leaves through here.
    /// </summary>
    public byte[] Protect(byte[] utf8Json) => TryProtect(utf8Json, out var result) ? result : utf8Json;

    /// <summary>False when <paramref name="utf8Json"/> is not one JSON object (then nothing can be located in it).</summary>
    public bool TryProtect(byte[] utf8Json, out byte[] result)
    {
        result = utf8Json;
        List<(int Start, int End, string Clear)> spans = [];
        try
        {
            var reader = new Utf8JsonReader(utf8Json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var field = IsProtected(ref reader);
                reader.Read();
                if (field && reader.TokenType == JsonTokenType.String && reader.GetString() is { } clear
                    && !clear.StartsWith(Prefix, StringComparison.Ordinal))
                {
                    // TokenStartIndex is the opening quote; ValueSpan is the raw (possibly escaped) text between the quotes.
                    var start = (int)reader.TokenStartIndex;
                    spans.Add((start, start + reader.ValueSpan.Length + 2, clear));
                }
                reader.Skip();
            }
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read()) return false;
        }
        catch (JsonException)
        {
            return false;
        }
        if (spans.Count == 0) return true;
        var hashes = spans.ConvertAll(sp => Encoding.UTF8.GetBytes("\"" + Hash(sp.Clear) + "\""));
        var output = new byte[utf8Json.Length + hashes.Sum(h => h.Length) - spans.Sum(sp => sp.End - sp.Start)];
        int from = 0, to = 0;
        for (var i = 0; i < spans.Count; i++)
        {
            utf8Json.AsSpan(from, spans[i].Start - from).CopyTo(output.AsSpan(to));
            to += spans[i].Start - from;
            hashes[i].CopyTo(output, to);
            to += hashes[i].Length;
            from = spans[i].End;
        }
        utf8Json.AsSpan(from).CopyTo(output.AsSpan(to));
        result = output;
        return true;
    }

    private bool IsProtected(ref Utf8JsonReader reader)
    {
        foreach (var name in _fieldNames)
        {
            if (reader.ValueTextEquals(name)) return true;
        }
        return false;
    }

    /// <summary>Encrypts <paramref name="data"/>: "KPS1" + nonce (12) + tag (16) + ciphertext, AES-256-GCM.</summary>
    public byte[] Seal(ReadOnlySpan<byte> data)
    {
        var sealedData = new byte[s_sealMagic.Length + NonceSize + TagSize + data.Length];
        s_sealMagic.CopyTo(sealedData, 0);
        var nonce = sealedData.AsSpan(s_sealMagic.Length, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_sealKey, TagSize);
        aes.Encrypt(nonce, data, sealedData.AsSpan(s_sealMagic.Length + NonceSize + TagSize),
            sealedData.AsSpan(s_sealMagic.Length + NonceSize, TagSize));
        return sealedData;
    }

    /// <summary>Reverses <see cref="Seal"/>; throws when the data was not sealed with this key.</summary>
    public byte[] Unseal(ReadOnlySpan<byte> sealedData)
    {
        var header = s_sealMagic.Length + NonceSize + TagSize;
        if (sealedData.Length < header || !sealedData[..s_sealMagic.Length].SequenceEqual(s_sealMagic))
            throw new CryptographicException("not a sealed value (no KPS1 header)");
        var data = new byte[sealedData.Length - header];
        using var aes = new AesGcm(_sealKey, TagSize);
        aes.Decrypt(sealedData.Slice(s_sealMagic.Length, NonceSize), sealedData[header..],
            sealedData.Slice(s_sealMagic.Length + NonceSize, TagSize), data);
        return data;
    }
}
