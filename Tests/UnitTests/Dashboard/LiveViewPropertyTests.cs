using System.Text;
using Confluent.Kafka;
using CsCheck;
using KafkaPipeline.Dashboard;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Customers;
using KafkaPipeline.Tests;

namespace KafkaPipeline.UnitTests.Dashboard;

/// <summary>
/// Property-based tests (CsCheck) of what reads messages for the live views and the topic browser: random and mutated
/// messages never make them throw, every message that is not a user change is counted as skipped, and what is kept
/// or shown stays bounded.
/// </summary>
public sealed class LiveViewPropertyTests
{
    private const int Iterations = 2_000;

    private static readonly Gen<string> s_text = Gen.OneOf(
        Gen.String,
        Gen.Char.Array[0, 40].Select(c => new string(c)), // any UTF-16 unit: lone surrogates, controls, escapes
        Gen.OneOf<string>("Chile", "Iceland", "  France ", "", "\u001b[31mRed\u001b[0m", "\ud800", "a\udc00b", "Ann\u202eLee"),
        Gen.Int[1_000, 200_000].Select(n => new string('x', n)));

    private static readonly Gen<string> s_jsonValue = Gen.OneOf(
        s_text.Select(JsonString),
        Gen.OneOf<string>("null", "true", "1.5", "-3", "0", "1e400", "9223372036854775808", "\"42\"", "[]", "{}", "{\"a\":[1,{\"b\":null}]}",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
        Gen.Long.Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    private static readonly Gen<UserRecord> s_user =
        Gen.Select(Gen.Long[1, long.MaxValue], s_text, s_text, Gen.Int[-100_000, 100_000], (id, name, residence, minutes) => new UserRecord
        {
            Id = id, Name = name, Residence = residence, Username = "u", Sex = "F", Address = "a", Mail = "m", Job = "j", Company = "c", Ssn = "s",
            Birthdate = new DateOnly(1990, 1, 1), CreatedAt = DateTime.UnixEpoch.AddMinutes(29_000_000 + minutes), UpdatedAt = DateTime.UnixEpoch.AddMinutes(29_000_000),
        });

    /// <summary>A users event as the source writes it, or one mutated: a field replaced by any JSON value, removed, duplicated, an extra column, the bytes cut, flipped or replaced.</summary>
    private static readonly Gen<byte[]> s_value = Gen.Select(s_user, Gen.Int[0, 9], Gen.Int, s_jsonValue, Gen.Byte.Array[0, 64], (user, mutation, at, json, bytes) =>
    {
        var value = SafeValue(user);
        var text = Encoding.UTF8.GetString(value);
        string[] fields = ["id", "name", "residence", "created_at", "updated_at"];
        var field = fields[(int)((uint)at % fields.Length)];
        return mutation switch
        {
            0 => value,
            1 => Encoding.UTF8.GetBytes(ReplaceField(text, field, json)),
            2 => Encoding.UTF8.GetBytes(text.Replace($"\"{field}\":", "\"renamed\":", StringComparison.Ordinal)),
            3 => Encoding.UTF8.GetBytes(text.Replace("\"payload\":{", $"\"payload\":{{\"extra_column\":{json},", StringComparison.Ordinal)),
            4 => value[..(int)((uint)at % (uint)value.Length)], // truncated JSON
            5 => Flip(value, at),
            6 => bytes,
            7 => Encoding.UTF8.GetBytes(ReplaceField(text, field, json).Replace("\"schema\":", "\"schema\":1,\"x\":", StringComparison.Ordinal)),
            8 => Encoding.UTF8.GetBytes($"{{\"id\":{json},\"residence\":{json},\"created_at\":{json}}}"), // a flat row
            _ => Encoding.UTF8.GetBytes(text.Replace("\"payload\":{", "\"payload\":null,\"p\":{", StringComparison.Ordinal)),
        };
    });

    private static readonly Gen<Headers?> s_headers = Gen.OneOf(
        Gen.Const((Headers?)null),
        Gen.Select(s_text, Gen.Byte.Array[0, 40], Gen.Bool, (key, bytes, commit) =>
        {
            var headers = new Headers();
            headers.Add(commit ? ChangeHeaders.CommitTime : key, bytes);
            headers.Add(ChangeHeaders.Unchanged, bytes.Length % 2 == 0 ? null : bytes);
            return (Headers?)headers;
        }));

    private static readonly Gen<Message<byte[]?, byte[]?>> s_message = Gen.Select(s_value, s_headers, Gen.Int[0, 5], Gen.Long, (value, headers, keyKind, id) =>
        new Message<byte[]?, byte[]?>
        {
            Key = keyKind switch
            {
                0 => null,
                1 => Encoding.UTF8.GetBytes(id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                2 => "x"u8.ToArray(),
                _ => KeyOf(value),
            },
            Value = keyKind == 5 ? null : value, // a tombstone
            Headers = headers,
        });

    [Fact]
    public void Any_message_is_a_change_or_a_skip_with_a_reason_and_nothing_kept_is_unbounded()
    {
        s_message.Sample(message =>
        {
            var change = CustomerChange.From(message, out var error);
            if (change is null)
            {
                Assert.False(string.IsNullOrEmpty(error));
                return;
            }
            Assert.Null(error);
            var c = change.Value;
            Assert.True(c.Id > 0);
            if (c.Deleted) return;
            Assert.NotNull(c.Country);
            Assert.InRange(c.Country!.Length, 1, CustomerChange.MaxCountryLength);
            Assert.InRange(c.FirstName!.Length, 0, CustomerChange.MaxFirstNameLength);
            Assert.DoesNotContain(c.Country, char.IsControl);
            Assert.DoesNotContain(c.FirstName, char.IsControl);
            Assert.DoesNotContain(' ', c.FirstName);
        }, iter: Iterations);
    }

    [Fact]
    public void Every_message_replayed_is_counted_once_as_a_change_or_as_skipped_and_countries_stay_few()
    {
        s_message.Array[1, 60].Sample(messages =>
        {
            var tally = new CustomerTally(countries: null);
            var applied = 0;
            foreach (var m in messages)
            {
                if (CustomerChange.From(m, out _) is { } c) { tally.Apply(c); applied++; }
                else tally.Skip();
            }
            var s = tally.Snapshot();
            Assert.Equal(messages.Length, s.Changes + s.Skipped);
            Assert.Equal(applied, s.Changes);
            Assert.True(s.Countries.Count <= CustomerTally.MaxCountries);
            Assert.Equal(s.Customers, s.Countries.Sum(x => x.Customers));
        }, iter: Iterations / 4);
    }

    [Fact]
    public void A_null_or_missing_residence_counts_the_customer_under_unknown()
    {
        var value = Encoding.UTF8.GetString(UsersEvents.Value(DashboardTestUser(7)));
        foreach (var row in new[] { ReplaceField(value, "residence", "null"), value.Replace("\"residence\":", "\"gone\":", StringComparison.Ordinal) })
        {
            var change = CustomerChange.From(new Message<byte[]?, byte[]?> { Key = "7"u8.ToArray(), Value = Encoding.UTF8.GetBytes(row) }, out var error);
            Assert.True(change is not null, error);
            Assert.Equal(CustomerChange.UnknownCountry, change.Value.Country);
        }
    }

    [Fact]
    public void Residences_are_mapped_to_a_bounded_set_of_countries()
    {
        var tally = new CustomerTally();
        for (var i = 1; i <= 5_000; i++)
            tally.Apply(new CustomerChange(i, false, "A", $"Country {i}", DateTime.UtcNow, null, false));
        var countries = tally.Snapshot().Countries;
        Assert.Equal(CustomerTally.MaxCountries, countries.Count);
        Assert.Equal(5_000 - (CustomerTally.MaxCountries - 1), countries.Single(c => c.Country == CustomerChange.OtherCountry).Customers);

        // The Dashboard's map: a name with an ISO code, or "other".
        var codes = CountryCodes.Load(Path.Combine(AppContext.BaseDirectory, "countries"));
        var screen = new CustomerTally(countries: codes);
        screen.Apply(new CustomerChange(1, false, "A", "iceland", DateTime.UtcNow, null, false));
        screen.Apply(new CustomerChange(2, false, "A", "Atlantis", DateTime.UtcNow, null, false));
        screen.Apply(new CustomerChange(3, false, "A", CustomerChange.UnknownCountry, DateTime.UtcNow, null, false));
        Assert.Equal(new[] { "Iceland", CustomerChange.OtherCountry, CustomerChange.UnknownCountry }.Order(StringComparer.Ordinal),
            screen.Snapshot().Countries.Select(c => c.Country).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_topic_browser_shows_any_message_without_throwing_bounded_in_bytes_and_never_a_personal_value()
    {
        var options = new DashboardOptions { MaxValueBytes = 4096 };
        var display = new MessageDisplay(options, TestProtection.Protector, new TableName(null, "users"));
        const string secret = "Zyxwvut-personal";
        var gen = Gen.Select(s_message, Gen.Int[0, 3], (m, where) =>
        {
            // A personal value placed in a personal field of the payload, or of a flat row, in any case and type.
            if (m.Value is { } v && where > 0)
            {
                var text = Encoding.UTF8.GetString(v);
                m.Value = Encoding.UTF8.GetBytes(where switch
                {
                    1 => ReplaceField(text, "name", JsonString(secret)),
                    2 => text.Replace("\"payload\":{", $"\"payload\":{{\"MAIL\":{{\"x\":\"{secret}\"}},", StringComparison.Ordinal),
                    _ => $"{{\"Address\":[\"{secret}\"],\"id\":1}}",
                });
            }
            return m;
        });
        gen.Sample(m =>
        {
            var shown = display.Show(m, 3);
            Assert.Equal(3, shown.Offset);
            foreach (var text in new[] { shown.Value, shown.Key }.Concat(shown.Headers.SelectMany(h => new[] { h.Key, h.Value })))
            {
                if (text is null) continue;
                Assert.True(Encoding.UTF8.GetByteCount(text) <= options.MaxValueBytes + "base64:".Length, $"{Encoding.UTF8.GetByteCount(text)} bytes");
            }
            Assert.DoesNotContain(secret, shown.Value ?? "", StringComparison.Ordinal);
        }, iter: Iterations);
    }

    [Fact]
    public void Text_is_cut_on_a_character_boundary()
    {
        Gen.Select(Gen.String, Gen.Int[0, 100]).Sample((text, bytes) =>
        {
            var cut = MessageDisplay.Cut(text, bytes);
            Assert.StartsWith(cut, text, StringComparison.Ordinal);
            Assert.True(Encoding.UTF8.GetByteCount(cut) <= bytes);
            Assert.False(cut.Length > 0 && char.IsHighSurrogate(cut[^1]) && cut.Length < text.Length && char.IsLowSurrogate(text[cut.Length]));
        }, iter: Iterations);
    }

    private static UserRecord DashboardTestUser(long id) => new()
    {
        Id = id, Name = "Ann Lee", Residence = "Chile", Username = "u", Sex = "F", Address = "a", Mail = "m", Job = "j", Company = "c", Ssn = "s",
        Birthdate = new DateOnly(1990, 1, 1), CreatedAt = new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc), UpdatedAt = new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc),
    };

    /// <summary>The event of a user; a name or residence that JSON cannot carry (a lone surrogate) is written escaped by hand.</summary>
    private static byte[] SafeValue(UserRecord user)
    {
        try
        {
            return UsersEvents.Value(user);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            var text = Encoding.UTF8.GetString(UsersEvents.Value(user with { Name = "N", Residence = "R" }));
            return Encoding.UTF8.GetBytes(ReplaceField(ReplaceField(text, "name", JsonString(user.Name)), "residence", JsonString(user.Residence)));
        }
    }

    /// <summary>A JSON string literal of any UTF-16 text, lone surrogates as \u escapes.</summary>
    private static string JsonString(string text)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in text)
        {
            if (c is '"' or '\\' || c < 0x20 || char.IsSurrogate(c)) sb.Append($"\\u{(int)c:x4}");
            else sb.Append(c);
        }
        return sb.Append('"').ToString();
    }

    /// <summary>The payload's <paramref name="field"/> given another JSON value (its first occurrence after "payload").</summary>
    private static string ReplaceField(string json, string field, string value)
    {
        var payload = Math.Max(0, json.IndexOf("\"payload\":", StringComparison.Ordinal));
        var at = json.IndexOf($"\"{field}\":", payload, StringComparison.Ordinal);
        if (at < 0) return json;
        var start = at + field.Length + 3;
        var end = EndOfValue(json, start);
        return string.Concat(json.AsSpan(0, start), value, json.AsSpan(end));
    }

    private static int EndOfValue(string json, int start)
    {
        if (start < json.Length && json[start] == '"')
        {
            var i = start + 1;
            while (i < json.Length && json[i] != '"') i += json[i] == '\\' ? 2 : 1;
            return Math.Min(i + 1, json.Length);
        }
        var j = start;
        while (j < json.Length && json[j] is not (',' or '}')) j++;
        return j;
    }

    private static byte[] Flip(byte[] value, int at)
    {
        var copy = (byte[])value.Clone();
        copy[(int)((uint)at % (uint)copy.Length)] ^= (byte)(1 << (at & 7));
        return copy;
    }

    /// <summary>The id's digits as the key, when the payload's id is a plain number (so that most messages are real changes).</summary>
    private static byte[]? KeyOf(byte[] value)
    {
        var text = Encoding.UTF8.GetString(value);
        var at = text.IndexOf("\"id\":", Math.Max(0, text.IndexOf("\"payload\":", StringComparison.Ordinal)), StringComparison.Ordinal);
        if (at < 0) return "1"u8.ToArray();
        var digits = new string([.. text.Skip(at + 5).TakeWhile(char.IsAsciiDigit)]);
        return Encoding.UTF8.GetBytes(digits.Length > 0 ? digits : "1");
    }
}
