using System.Globalization;
using System.Numerics;

namespace KafkaPipeline.Shared.Contract;

/// <summary>
/// An exact decimal of any size: <see cref="Unscaled"/> × 10^-<see cref="Scale"/>, as Kafka Connect's Decimal carries it
/// (PostgreSQL's numeric holds far more digits than <see cref="decimal"/>).
/// </summary>
public readonly record struct DecimalValue(BigInteger Unscaled, int Scale)
{
    /// <summary>
    /// PostgreSQL's numeric holds up to 131072 digits before the decimal point and 16383 after it. Text beyond that (or
    /// with an exponent that would make it so: "1e50000000" is 12 bytes) is not parsed: it would take minutes and
    /// gigabytes to expand.
    /// </summary>
    public const int MaxIntegerDigits = 131_072, MaxScale = 16_383;

    /// <summary>The same value at another scale; throws when that would drop non-zero digits.</summary>
    public DecimalValue Rescale(int scale)
    {
        if (scale == Scale) return this;
        if (scale > Scale) return new DecimalValue(Unscaled * BigInteger.Pow(10, scale - Scale), scale);
        var divisor = BigInteger.Pow(10, Scale - scale);
        var quotient = BigInteger.DivRem(Unscaled, divisor, out var remainder);
        if (!remainder.IsZero) throw new FormatException($"the value has more than {scale} decimal places");
        return new DecimalValue(quotient, scale);
    }

    /// <summary>Two's-complement big-endian bytes of the unscaled value (Connect's Decimal encoding).</summary>
    public byte[] ToConnectBytes() => Unscaled.ToByteArray(isUnsigned: false, isBigEndian: true);

    public static DecimalValue FromConnectBytes(ReadOnlySpan<byte> bytes, int scale) =>
        new(new BigInteger(bytes, isUnsigned: false, isBigEndian: true), scale);

    /// <summary>Plain decimal text ("-12.340"), exact, no exponent.</summary>
    public override string ToString()
    {
        var digits = BigInteger.Abs(Unscaled).ToString(CultureInfo.InvariantCulture);
        var sign = Unscaled.Sign < 0 ? "-" : "";
        if (Scale <= 0) return sign + digits + (Unscaled.IsZero ? "" : new string('0', -Scale));
        if (digits.Length <= Scale) digits = new string('0', Scale - digits.Length + 1) + digits;
        return sign + digits[..^Scale] + "." + digits[^Scale..];
    }

    /// <summary>Parses plain or exponent notation ("12.5", "-3", "1.2E+3") exactly, within <see cref="MaxIntegerDigits"/> and <see cref="MaxScale"/>.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out DecimalValue value)
    {
        value = default;
        if (text.Length > MaxIntegerDigits + MaxScale + 16) return false;
        var exponent = 0;
        var e = text.IndexOfAny('e', 'E');
        if (e >= 0)
        {
            if (!int.TryParse(text[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exponent)) return false;
            text = text[..e];
        }
        var negative = text.Length > 0 && text[0] == '-';
        if (negative || (text.Length > 0 && text[0] == '+')) text = text[1..];
        var dot = text.IndexOf('.');
        var scale = dot < 0 ? 0 : text.Length - dot - 1;
        Span<char> digits = text.Length <= 512 ? stackalloc char[text.Length] : new char[text.Length];
        var n = 0;
        foreach (var c in text)
        {
            if (c == '.') continue;
            if (!char.IsAsciiDigit(c)) return false;
            digits[n++] = c;
        }
        if (n == 0 || (dot >= 0 && text.LastIndexOf('.') != dot)) return false;
        var finalScale = (long)scale - exponent;
        if (finalScale > MaxScale || n - finalScale > MaxIntegerDigits) return false;
        var unscaled = BigInteger.Parse(digits[..n], NumberStyles.None, CultureInfo.InvariantCulture);
        value = new DecimalValue(negative ? -unscaled : unscaled, (int)finalScale);
        if (value.Scale < 0) value = value.Rescale(0);
        return true;
    }
}
