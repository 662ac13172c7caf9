using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

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

/// <summary>Replaces the protected fields of a JSON object by "hmac-sha256:&lt;hex&gt;" of their value.</summary>
public sealed class FieldProtector(ProtectionOptions options)
{
    public const string Prefix = "hmac-sha256:";
    private readonly byte[] _key = Encoding.UTF8.GetBytes(options.Key);
    private readonly HashSet<string> _fields = new(options.Fields, StringComparer.Ordinal);

    public IReadOnlyCollection<string> Fields => _fields;

    /// <summary>The keyed hash of one value, as stored in place of the clear text.</summary>
    public string Hash(string value) =>
        Prefix + Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(value)));

    /// <summary>
    /// The JSON document with every protected top-level string field replaced by its hash (values already hashed are
    /// left alone). Anything that is not a JSON object comes back unchanged: the caller decides what invalid input
    /// means, but no clear value of a valid record leaves through here.
    /// </summary>
    public byte[] Protect(byte[] utf8Json)
    {
        if (_fields.Count == 0 || utf8Json.Length == 0) return utf8Json;
        JsonObject? obj;
        try
        {
            obj = JsonNode.Parse(utf8Json) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            return utf8Json;
        }
        if (obj is null) return utf8Json;
        var changed = false;
        foreach (var field in _fields)
        {
            if (obj[field] is JsonValue v && v.TryGetValue<string>(out var clear) && !clear.StartsWith(Prefix, StringComparison.Ordinal))
            {
                obj[field] = Hash(clear);
                changed = true;
            }
        }
        return changed ? Encoding.UTF8.GetBytes(obj.ToJsonString()) : utf8Json;
    }
}
