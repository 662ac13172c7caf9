using System.Text;
using System.Text.Json.Nodes;
using KafkaPipeline.Shared;

namespace KafkaPipeline.UnitTests.Shared;

public sealed class FieldProtectionTests
{
    private static readonly FieldProtector Protector = new(new ProtectionOptions { Key = "a-test-key-of-some-length" });

    [Fact]
    public void Protected_field_is_replaced_by_a_stable_keyed_hash_and_the_rest_is_kept()
    {
        var json = Encoding.UTF8.GetBytes("""{"id":7,"name":"Zoë 🚀","ssn":"123-45-6789"}""");
        var once = JsonNode.Parse(Protector.Protect(json))!.AsObject();
        var twice = JsonNode.Parse(Protector.Protect(Protector.Protect(json)))!.AsObject();

        var hash = (string)once["ssn"]!;
        Assert.StartsWith(FieldProtector.Prefix, hash);
        Assert.DoesNotContain("6789", hash);
        Assert.Equal(Protector.Hash("123-45-6789"), hash);
        Assert.Equal(hash, (string)twice["ssn"]!); // already hashed values are left alone
        Assert.Equal("Zoë 🚀", (string)once["name"]!);
        Assert.Equal(7, (int)once["id"]!);
        // Another key gives another hash: the hash cannot be recomputed without the secret.
        Assert.NotEqual(hash, new FieldProtector(new ProtectionOptions { Key = "another-key-of-some-length" }).Hash("123-45-6789"));
    }

    [Fact]
    public void Short_keys_and_empty_field_names_are_rejected_naming_the_setting()
    {
        Assert.Contains("Protection:Key", string.Join(" ", new ProtectionOptions { Key = "short" }.Validate("Protection")));
        Assert.Contains("Protection:Fields", string.Join(" ", new ProtectionOptions { Fields = [""] }.Validate("Protection")));
        Assert.Empty(new ProtectionOptions().Validate("Protection"));
    }

    [Fact]
    public void Protection_changes_only_the_private_values_at_any_depth_every_other_byte_stays()
    {
        var json = "{\"id\":7,\"name\":\"Zoë & \\\"Q\\\" <東京> 😀\",\"ssn\":\"123-45-6789\",\"nested\":{\"ssn\":\"x\"},\"address\":\"a\\nb\"}";
        var result = Encoding.UTF8.GetString(Protector.Protect(Encoding.UTF8.GetBytes(json)));
        var expected = json.Replace("\"123-45-6789\"", "\"" + Protector.Hash("123-45-6789") + "\"", StringComparison.Ordinal)
            .Replace("{\"ssn\":\"x\"}", "{\"ssn\":\"" + Protector.Hash("x") + "\"}", StringComparison.Ordinal);
        Assert.Equal(expected, result);
    }

    [Fact]
    public void An_escaped_private_value_is_hashed_by_its_text()
    {
        var json = Encoding.UTF8.GetBytes("{\"ssn\":\"123\\u002D45\"}");
        Assert.Equal("{\"ssn\":\"" + Protector.Hash("123-45") + "\"}", Encoding.UTF8.GetString(Protector.Protect(json)));
    }

    [Theory]
    [InlineData("not json {\"ssn\":\"123-45-6789\"")]
    [InlineData("[{\"ssn\":\"123-45-6789\"}]")]
    [InlineData("{\"ssn\":\"123-45-6789\"} trailing")]
    public void What_is_not_one_json_object_is_not_protectable_and_can_be_sealed_and_unsealed(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Assert.False(Protector.TryProtect(bytes, out _));
        var sealedValue = Protector.Seal(bytes);
        Assert.DoesNotContain("6789", Encoding.UTF8.GetString(sealedValue), StringComparison.Ordinal);
        Assert.Equal(bytes, Protector.Unseal(sealedValue));
        Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(
            () => new FieldProtector(new ProtectionOptions { Key = "another-key-of-some-length" }).Unseal(sealedValue));
    }
}
