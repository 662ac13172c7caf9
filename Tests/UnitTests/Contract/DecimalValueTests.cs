using System.Globalization;
using System.Numerics;
using CsCheck;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.UnitTests.Contract;

public sealed class DecimalValueTests
{
    [Fact]
    public void Text_parses_back_to_the_same_value_and_scale() =>
        ContractGen.Decimal.Sample(d =>
        {
            Assert.True(DecimalValue.TryParse(d.ToString(), out var back), d.ToString());
            Assert.Equal(d, back);
        }, iter: 2000, threads: 1);

    [Fact]
    public void Connect_bytes_read_back_to_the_same_value() =>
        ContractGen.Decimal.Sample(d => Assert.Equal(d, DecimalValue.FromConnectBytes(d.ToConnectBytes(), d.Scale)), iter: 2000, threads: 1);

    [Fact]
    public void Rescaling_up_and_back_keeps_the_value_and_dropping_a_non_zero_digit_is_refused() =>
        Gen.Select(ContractGen.Decimal, Gen.Int[1, 30]).Sample((d, more) =>
        {
            var wider = d.Rescale(d.Scale + more);
            Assert.Equal(d.Scale + more, wider.Scale);
            Assert.Equal(d, wider.Rescale(d.Scale));
            var odd = new DecimalValue(d.Unscaled * 10 + 1, d.Scale + 1); // its last digit is 1
            Assert.Throws<FormatException>(() => odd.Rescale(d.Scale));
        }, iter: 1000, threads: 1);

    [Fact]
    public void Text_and_connect_bytes_agree_with_system_decimal_where_it_fits() =>
        Gen.Decimal.Sample(m =>
        {
            var text = m.ToString(CultureInfo.InvariantCulture);
            Assert.True(DecimalValue.TryParse(text, out var d), text);
            Assert.Equal(text, d.ToString());
            Assert.Equal(m.Scale, d.Scale);
            // Connect's unscaled value is System.Decimal's 96-bit integer with its sign.
            var bits = decimal.GetBits(m);
            var unscaled = (new BigInteger((uint)bits[2]) << 64) + (new BigInteger((uint)bits[1]) << 32) + (uint)bits[0];
            Assert.Equal(m < 0 ? -unscaled : unscaled, DecimalValue.FromConnectBytes(d.ToConnectBytes(), d.Scale).Unscaled);
        }, iter: 2000, threads: 1);

    [Theory]
    [InlineData("12.5", "12.5")]
    [InlineData("-0.05", "-0.05")]
    [InlineData("+3", "3")]
    [InlineData("1.2E+3", "1200")]
    [InlineData("1.25e-3", "0.00125")]
    [InlineData("0.000", "0.000")]
    public void Plain_and_exponent_notation_parse_exactly(string text, string plain)
    {
        Assert.True(DecimalValue.TryParse(text, out var d));
        Assert.Equal(plain, d.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("-")]
    [InlineData("1.2.3")]
    [InlineData("1,5")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("1e")]
    [InlineData("0x10")]
    // Exponents far beyond what PostgreSQL's numeric can hold would make the value astronomically long (or overflow).
    [InlineData("1e2147483647")]
    [InlineData("1e-2147483648")]
    [InlineData("1e50000000")]
    [InlineData("1e-50000000")]
    public void What_is_not_a_decimal_within_postgresql_s_range_does_not_parse(string text) =>
        Assert.False(DecimalValue.TryParse(text, out _));

    [Fact]
    public void The_largest_and_smallest_postgresql_numerics_parse()
    {
        // numeric holds up to 131072 digits before the point and 16383 after it.
        Assert.True(DecimalValue.TryParse("1e131071", out var big));
        Assert.Equal(131_072, big.ToString().Length);
        Assert.True(DecimalValue.TryParse("1e-16383", out var small));
        Assert.Equal(16_383, small.Scale);
    }
}
