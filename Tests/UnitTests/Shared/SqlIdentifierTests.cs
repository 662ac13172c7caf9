using KafkaPipeline.Shared;

namespace KafkaPipeline.UnitTests.Shared;

public sealed class SqlIdentifierTests
{
    [Theory]
    [InlineData("users")]
    [InlineData("_users_2")]
    [InlineData("Users")]
    public void Plain_identifiers_are_quoted_for_each_dialect(string name)
    {
        Assert.Equal($"\"{name}\"", SqlIdentifier.QuotePostgres(name));
        Assert.Equal($"`{name}`", SqlIdentifier.QuoteMySql(name));
    }

    [Theory]
    [InlineData("us\"ers")]
    [InlineData("us`ers")]
    [InlineData("users; DROP TABLE users")]
    [InlineData("user's")]
    [InlineData("1users")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("a234567890123456789012345678901234567890123456789012345678901234")]
    public void Anything_else_is_refused_naming_the_setting(string? name)
    {
        Assert.False(SqlIdentifier.IsValid(name));
        var e = Assert.Throws<ArgumentException>(() => SqlIdentifier.Require(name, "Source:Table"));
        Assert.Contains("Source:Table", e.Message, StringComparison.Ordinal);
    }
}
