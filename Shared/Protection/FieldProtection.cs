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
    /// Secret for HMAC-SHA256 (at least 16 characters). The AppHost and ./run.sh pass a generated secret; the default is
    /// a published development value, accepted in the Development environment only: under it every hash of a
    /// low-entropy value (an SSN has 10^9) can be reversed by trying them all, and sealed values read by anyone.
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

    /// <summary>As <see cref="Validate(string)"/>, and outside the Development environment the development key is refused.</summary>
    public IEnumerable<string> Validate(string section, Microsoft.Extensions.Hosting.IHostEnvironment environment)
    {
        foreach (var m in Validate(section)) yield return m;
        if (UsesDevelopmentKey && !Microsoft.Extensions.Hosting.HostEnvironmentEnvExtensions.IsDevelopment(environment))
            yield return $"{section}:Key is the published development key, which the {environment.EnvironmentName} environment refuses: " +
                $"set {section}:Key (environment variable {section}__Key) to a secret of your own (./run.sh and the AppHost generate one).";
    }
}

/// <summary>
/// Replaces protected fields by "hmac-sha256:&lt;hex&gt;" of their value: in the lake's lines, the dead-letter topic and the
/// topic browser. A field is protected whatever its case ("SSN" as "ssn"), its JSON type (a number or an object is
/// hashed over its JSON text) and its depth; every other byte of a document stays as it was. Values that are not JSON at
/// all can be sealed (AES-256-GCM with a key derived from the same secret) so that they travel without clear private data
/// but can still be read back by whoever holds the key.
/// </summary>
public sealed class FieldProtector(ProtectionOptions options)
{
    public const string Prefix = "hmac-sha256:";
    private static readonly byte[] s_sealMagic = "KPS1"u8.ToArray();
    private const int NonceSize = 12, TagSize = 16;
    private readonly byte[] _key = Encoding.UTF8.GetBytes(options.Key);
    private readonly byte[] _sealKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(options.Key), 32,
        info: "kafkapipeline seal v1"u8.ToArray());
    private readonly HashSet<string> _fields = new(options.Fields, StringComparer.OrdinalIgnoreCase);

    public IReadOnlyCollection<string> Fields => _fields;

    /// <summary>True when <paramref name="field"/> is protected (names compare case-insensitively).</summary>
    public bool IsProtected(string field) => _fields.Contains(field);

    /// <summary>The keyed hash of one value, as stored in place of the clear text.</summary>
    public string Hash(string value) => Hash(Encoding.UTF8.GetBytes(value));

    /// <summary>The keyed hash of a value's UTF-8 bytes (a string's text, or another value's JSON text).</summary>
    public string Hash(ReadOnlySpan<byte> utf8) => Prefix + Convert.ToHexStringLower(HMACSHA256.HashData(_key, utf8));

    /// <summary>
    /// The JSON document with every protected field's value replaced by its hash (values already hashed are left
    /// alone). Anything that is not one JSON document comes back unchanged: the caller decides what invalid input means.
    /// </summary>
    public byte[] Protect(byte[] utf8Json) => TryProtect(utf8Json, out var result) ? result : utf8Json;

    /// <summary>
    /// False when <paramref name="utf8Json"/> is not one JSON object, or names a field in a way that cannot be read (then
    /// nothing can be located in it: seal it instead). Never throws. In Kafka Connect's envelope, the members of the
    /// "schema" member that are Connect's own words (type, name, field, default, ...) are left as they are: they describe
    /// fields, they hold no row's values (a protected column called "name" must not break the schema).
    /// </summary>
    public bool TryProtect(byte[] utf8Json, out byte[] result)
    {
        result = utf8Json;
        List<(int Start, int End, string Hash)> spans = [];
        try
        {
            var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = 256 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            long schemaEnd = -1;
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName) continue;
                var name = reader.GetString()!;
                var inSchema = reader.TokenStartIndex < schemaEnd;
                var envelopeSchema = reader.CurrentDepth == 1 && name == "schema";
                reader.Read();
                if (envelopeSchema && reader.TokenType == JsonTokenType.StartObject)
                {
                    var copy = reader; // to find where the schema ends without leaving it
                    copy.Skip();
                    schemaEnd = copy.BytesConsumed;
                    continue;
                }
                if (!_fields.Contains(name) || reader.TokenType == JsonTokenType.Null || (inSchema && s_schemaWords.Contains(name))) continue;
                var start = (int)reader.TokenStartIndex;
                string hash;
                if (reader.TokenType == JsonTokenType.String)
                {
                    if (IsHash(reader.ValueSpan)) continue; // protected already
                    hash = HashString(ref reader);
                    spans.Add((start, start + reader.ValueSpan.Length + 2, hash)); // ValueSpan: the raw text between the quotes
                    continue;
                }
                reader.Skip(); // an object or array: to its end; a number or boolean: stays put
                var end = (int)reader.BytesConsumed;
                spans.Add((start, end, Hash(utf8Json.AsSpan(start, end - start))));
            }
            if (reader.BytesConsumed != utf8Json.Length) return false;
        }
        catch (Exception)
        {
            return false; // not JSON, or a field name that is not valid Unicode: nothing can be located in it
        }
        if (spans.Count == 0) return true;
        var hashes = spans.ConvertAll(sp => Encoding.UTF8.GetBytes("\"" + sp.Hash + "\""));
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

    // Connect's words for a schema's parts (JsonSchema.java), which name and describe fields.
    private static readonly HashSet<string> s_schemaWords =
        ["type", "optional", "name", "version", "doc", "field", "fields", "items", "keys", "values", "parameters", "default"];

    private static readonly System.Buffers.SearchValues<byte> s_lowerHex = System.Buffers.SearchValues.Create("0123456789abcdef"u8);

    // Exactly what Hash writes: the prefix and 64 lower-case hex digits. A value that only starts like one is hashed.
    private static bool IsHash(ReadOnlySpan<byte> raw) =>
        raw.Length == Prefix.Length + 64 && raw.StartsWith("hmac-sha256:"u8)
        && !raw[Prefix.Length..].ContainsAnyExcept(s_lowerHex);

    // The hash of the string's text, as the lake stores it; a string that is not valid Unicode (a lone surrogate) is
    // hashed over its raw JSON text instead: protected either way.
    private string HashString(ref Utf8JsonReader reader)
    {
        try
        {
            return Hash(reader.GetString()!);
        }
        catch (InvalidOperationException)
        {
            return Hash(reader.ValueSpan);
        }
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
