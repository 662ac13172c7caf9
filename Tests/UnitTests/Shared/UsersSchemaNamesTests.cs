using KafkaPipeline.Generator;
using KafkaPipeline.Shared;
using KafkaPipeline.SourceService;

namespace KafkaPipeline.UnitTests.Shared;

public sealed class UsersSchemaNamesTests
{
    [Fact]
    public void A_trailing_newline_is_not_an_identifier()
    {
        // '$' matches before a final newline; the pattern must end with \z.
        Assert.False(SqlIdentifier.IsValid("users\n"));
        Assert.False(SqlIdentifier.IsValid("\nusers"));
        Assert.True(SqlIdentifier.IsValid("users"));
    }

    [Fact]
    public void Names_derived_from_the_table_must_fit_in_63_bytes()
    {
        var longest = new string('t', 63 - "_touch_updated_at".Length);
        var names = UsersSchema.Names.For(longest, "Source:Table");
        Assert.Equal(63, names.Trigger.Length);
        Assert.Equal(longest + "_updated_at_id", names.Index);

        var tooLong = longest + "x";
        Assert.True(SqlIdentifier.IsValid(tooLong)); // a valid table name on its own
        var e = Assert.Throws<ArgumentException>(() => UsersSchema.Names.For(tooLong, "Source:Table"));
        Assert.Contains("Source:Table", e.Message, StringComparison.Ordinal);
        Assert.Contains("63-byte", e.Message, StringComparison.Ordinal);

        Assert.Contains(new SourceOptions { Table = tooLong }.Validate("Source"), m => m.StartsWith("Source:Table is too long", StringComparison.Ordinal));
        Assert.Contains(new GeneratorOptions { Table = tooLong }.Validate("Generator"), m => m.StartsWith("Generator:Table is too long", StringComparison.Ordinal));
        Assert.Empty(new SourceOptions { Table = longest, Slot = "s" }.Validate("Source"));
    }

    [Fact]
    public void A_table_name_with_a_newline_is_refused_by_both_services()
    {
        Assert.Contains(new SourceOptions { Table = "users\n" }.Validate("Source"), m => m.StartsWith("Source:Table", StringComparison.Ordinal));
        Assert.Contains(new GeneratorOptions { Table = "users\n" }.Validate("Generator"), m => m.StartsWith("Generator:Table", StringComparison.Ordinal));
    }
}
