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
}
