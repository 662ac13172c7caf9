using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using CsCheck;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Sinks;
using KafkaPipeline.UnitTests.Contract;

namespace KafkaPipeline.UnitTests.Shared;

/// <summary>
/// <see cref="FieldProtector"/> over random JSON documents: protected fields of any JSON type, at any depth, in any case,
/// escaped names, lone surrogates, look-alike hashes, inside and outside a Connect envelope's schema.
/// </summary>
public sealed partial class FieldProtectorPropertyTests
{
    private static readonly FieldProtector Protector = new(new ProtectionOptions { Fields = ["ssn"] });

    [GeneratedRegex("^hmac-sha256:[0-9a-f]{64}$")]
    private static partial Regex HashForm();

    private static readonly Gen<string> s_name = Gen.OneOf(
        "\"ssn\"", "\"SSN\"", "\"Ssn\"", "\"s\\u0073n\"", "\"name\"", "\"NAME\"", "\"schema\"", "\"payload\"", "\"type\"", "\"field\"", "\"a\"",
        "\"ssn2\"", "\"\"");

    private static readonly Gen<string> s_scalar = Gen.OneOf(
        ContractGen.Text.Select(t => JsonSerializer.Serialize(t)),
        Gen.OneOf("1", "-1.5e3", "0", "true", "false", "null", "\"\\ud800\"", "\"x\\udc00y\"", "\"hmac-sha256:123-45-6789\"",
            "\"" + new FieldProtector(new ProtectionOptions { Fields = ["ssn"] }).Hash("already") + "\"", "\"123-45-6789\"", "123456789"));

    private static readonly Gen<string> s_json = Gen.Recursive<string>((depth, self) =>
        depth >= 4 ? s_scalar
        : Gen.Frequency(
            (3, s_scalar),
            (2, Gen.Select(s_name, self).Array[0, 4].Select(members => "{" + string.Join(",", members.Select(m => m.Item1 + ":" + m.Item2)) + "}")),
            (1, self.Array[0, 4].Select(items => "[" + string.Join(",", items) + "]"))));

    private static readonly Gen<string> s_document =
        Gen.Select(s_name, s_json).Array[0, 5].Select(members => "{" + string.Join(",", members.Select(m => m.Item1 + ":" + m.Item2)) + "}");

    [Fact]
    public void Protect_never_throws_and_leaves_no_protected_field_s_clear_value_whatever_its_type_depth_or_case() =>
        s_document.Sample(text =>
        {
            var json = Encoding.UTF8.GetBytes(text);
            Assert.True(Protector.TryProtect(json, out var result), text);
            AssertProtected(result, Protector);
            Assert.Equal(result, Protector.Protect(result)); // protecting again changes nothing
            Assert.Equal(result, Protector.Protect(json));
        }, iter: 3000, threads: 1);

    [Fact]
    public void Anything_else_is_refused_without_an_exception_and_can_be_sealed() =>
        Gen.Frequency(
                (2, s_document.Select(d => Encoding.UTF8.GetBytes(d)).SelectMany(d => Gen.Int[0, d.Length].Select(n => d[..n]))),
                (1, Gen.Byte.Array[0, 64]),
                (1, Gen.OneOf("{\"\\ud800\":1}", "{\"ssn\":1} {}", "[{\"ssn\":1}]", new string('[', 300) + new string(']', 300), "{" + string.Concat(Enumerable.Repeat("\"a\":{", 300)))
                    .Select(s => Encoding.UTF8.GetBytes(s))))
            .Sample(bytes =>
            {
                if (Protector.TryProtect(bytes, out var result)) AssertProtected(result, Protector);
                else Assert.Equal(bytes, Protector.Unseal(Protector.Seal(bytes)));
            }, iter: 3000, threads: 1);

    [Fact]
    public void A_lone_surrogate_in_a_protected_field_is_hashed_not_thrown()
    {
        var result = Encoding.UTF8.GetString(Protector.Protect("{\"ssn\":\"\\ud800123\"}"u8.ToArray()));
        Assert.Equal("{\"ssn\":\"" + Protector.Hash("\\ud800123"u8) + "\"}", result);
    }

    [Fact]
    public void A_value_that_only_starts_like_a_hash_is_hashed_and_a_real_hash_is_left_alone()
    {
        Assert.Equal("{\"ssn\":\"" + Protector.Hash("hmac-sha256:123-45-6789") + "\"}",
            Encoding.UTF8.GetString(Protector.Protect("{\"ssn\":\"hmac-sha256:123-45-6789\"}"u8.ToArray())));
        var hashed = "{\"ssn\":\"" + Protector.Hash("123-45-6789") + "\"}";
        Assert.Equal(hashed, Encoding.UTF8.GetString(Protector.Protect(Encoding.UTF8.GetBytes(hashed))));
    }

    [Fact]
    public void In_an_envelope_s_schema_connect_s_own_words_stay_and_anything_else_is_protected()
    {
        // Protection:Fields holds "name": the schema's "name" members are Connect's, not a person's.
        var protector = new FieldProtector(new ProtectionOptions { Fields = ["ssn", "name"] });
        var envelope = "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":true,\"field\":\"name\"}],\"name\":\"kafkapipeline.public.users.Value\"," +
            "\"ssn\":\"123-45-6789\"},\"payload\":{\"name\":\"Ada\"}}";
        var result = Encoding.UTF8.GetString(protector.Protect(Encoding.UTF8.GetBytes(envelope)));
        Assert.Equal(envelope.Replace("\"123-45-6789\"", "\"" + protector.Hash("123-45-6789") + "\"", StringComparison.Ordinal)
            .Replace("\"payload\":{\"name\":\"Ada\"}", "\"payload\":{\"name\":\"" + protector.Hash("Ada") + "\"}", StringComparison.Ordinal), result);
    }

    [Fact]
    public void A_dead_letter_value_is_as_received_fields_protected_or_sealed()
    {
        var protector = new FieldProtector(new ProtectionOptions());
        var plain = "{\"id\":1}"u8.ToArray();
        Assert.Equal((plain, "as-received"), DeadLetterQueue.PrepareValue(protector, plain));
        Assert.Equal(((byte[]?)null, "as-received"), DeadLetterQueue.PrepareValue(protector, null));
        var (value, form) = DeadLetterQueue.PrepareValue(protector, "{\"SSN\":[\"123-45-6789\"]}"u8.ToArray());
        Assert.Equal("fields-protected", form);
        Assert.Equal("{\"SSN\":\"" + protector.Hash("[\"123-45-6789\"]"u8) + "\"}", Encoding.UTF8.GetString(value!));
        var broken = "{\"ssn\":\"123-45-6789\""u8.ToArray();
        (value, form) = DeadLetterQueue.PrepareValue(protector, broken);
        Assert.Equal("sealed", form);
        Assert.DoesNotContain("6789", Encoding.UTF8.GetString(value!), StringComparison.Ordinal);
        Assert.Equal(broken, protector.Unseal(value));
    }

    /// <summary>Every member named like a protected field (any case, any depth) holds a hash or null.</summary>
    internal static void AssertProtected(byte[] json, FieldProtector protector)
    {
        using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 512 });
        Walk(doc.RootElement);

        void Walk(JsonElement e)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var p in e.EnumerateObject())
                    {
                        if (protector.IsProtected(p.Name))
                        {
                            Assert.True(p.Value.ValueKind == JsonValueKind.Null
                                || (p.Value.ValueKind == JsonValueKind.String && HashForm().IsMatch(p.Value.GetString()!)),
                                $"'{p.Name}' holds {p.Value.GetRawText()} in {Encoding.UTF8.GetString(json)}");
                        }
                        else Walk(p.Value);
                    }
                    break;
                case JsonValueKind.Array:
                    foreach (var item in e.EnumerateArray()) Walk(item);
                    break;
            }
        }
    }
}
