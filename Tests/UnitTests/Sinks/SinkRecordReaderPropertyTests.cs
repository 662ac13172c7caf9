using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using Confluent.Kafka;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Sinks;
using KafkaPipeline.UnitTests.Contract;
using KafkaPipeline.UnitTests.Shared;

namespace KafkaPipeline.UnitTests.Sinks;

/// <summary>
/// The readers against anything a topic can hold: valid users and other tables' events, then mutated (cut, bytes
/// overwritten, lone surrogates, values of the wrong type, impossible numbers, null payloads, other JSON, huge strings,
/// broken schemas), under keys and headers of every sort. Nothing escapes <see cref="SinkRecordReader.Read(IReadOnlyList{ConsumeResult{byte[], byte[]}})"/>,
/// every message comes out once (a record or an errant record), errors never quote a value, the valid ones are records,
/// and every errant value can be prepared for the dead-letter topic without a clear protected field.
/// </summary>
public sealed class SinkRecordReaderPropertyTests
{
    /// <summary>Every text value starts with it: an error text that holds it quotes a value.</summary>
    private const string Marker = "Mk7q";

    private static readonly FieldProtector Protector = new(new ProtectionOptions());

    /// <summary>What the sinks must make of a message: a record, an errant record, or either (a mutation may leave it valid).</summary>
    private enum Expect { Record, Errant, Either }

    /// <summary>One message, what it must become, and the values it was built from.</summary>
    private sealed record Case(byte[]? Key, byte[]? Value, Headers? Headers, Expect Expect, object?[] Values, string What);

    private static readonly Gen<UserRecord> s_user =
        from id in Gen.Long[1, long.MaxValue]
        from texts in ContractGen.Text.Array[10]
        from day in Gen.Int[DateOnly.MinValue.DayNumber, DateOnly.MaxValue.DayNumber]
        from created in ContractGen.Micros
        from updated in ContractGen.Micros
        select new UserRecord
        {
            Id = id, Name = Marker + texts[0], Username = Marker + texts[1], Sex = Marker + texts[2], Address = Marker + texts[3],
            Mail = Marker + texts[4], Birthdate = DateOnly.FromDayNumber(day), Job = Marker + texts[5], Company = Marker + texts[6],
            Ssn = Marker + "-ssn-" + texts[7], Residence = Marker + texts[8],
            CreatedAt = DateTime.SpecifyKind(ConnectValueJson.ToDateTime(created), DateTimeKind.Utc),
            UpdatedAt = DateTime.SpecifyKind(ConnectValueJson.ToDateTime(updated), DateTimeKind.Utc),
        };

    // Other tables: any schema, its text values marked. A table without a key has no valid event (its events have no key).
    private static readonly Gen<(TableSchema Schema, object?[] Values)> s_row =
        ContractGen.Row.Select(r => (r.Schema, r.Values.Select(Marked).ToArray()));

    private static object? Marked(object? value) => value switch
    {
        string s => Marker + s,
        object?[] items => items.Select(Marked).ToArray(),
        _ => value,
    };

    private static readonly Gen<(TableSchema Schema, object?[] Values)> s_event = Gen.Frequency(
        (1, s_user.Select(u => (UsersEvents.Schema, UsersEvents.Values(u)))),
        (1, s_row));

    private static readonly string[] s_wrongValues =
    [
        "1.5", "1e400", "-1e400", "-0", "99999999999999999999", "true", "null", "[1,\"Mk7q-a\"]", "{\"a\":\"Mk7q-b\"}", "\"Mk7q-c\"",
        "\"2026-02-30T25:61:00Z\"", "\"AAAA\"", "\"***\"", "\"\\ud800Mk7q-d\"", "\"__debezium_unavailable_value\"", "\"NaN\"", "1" + new string('0', 5000),
    ];

    /// <summary>A value mutation (applied to the valid value's text) and its name.</summary>
    private static readonly Gen<Func<byte[], string, byte[]?>> s_mutation = Gen.OneOf<Func<byte[], string, byte[]?>>(
        (v, _) => v,
        (v, _) => v,
        (v, _) => null, // a tombstone
        (v, _) => [],
        (v, _) => "null"u8.ToArray(),
        (v, _) => "[]"u8.ToArray(),
        (v, _) => "\"Mk7q\""u8.ToArray(),
        (v, _) => "not json Mk7q"u8.ToArray(),
        (v, _) => ReplacePayload(v, "null"),
        (v, _) => ReplacePayload(v, "[\"Mk7q\"]"),
        (v, _) => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(v).Replace("\"" + Marker, "\"\\ud800" + Marker, StringComparison.Ordinal)),
        (v, _) => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(v).Replace("\"" + Marker, "\"\\udfff\\u0000" + Marker, StringComparison.Ordinal)),
        (v, _) => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(v).Replace("\"type\":\"int64\"", "\"type\":\"map\"", StringComparison.Ordinal)),
        (v, _) => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(v).Replace("\"type\":\"string\"", "\"type\":\"int32\"", StringComparison.Ordinal)),
        (v, _) => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(v).Replace("\"fields\":[", "\"fields\":[{\"type\":\"int32\",\"field\":\"zz\"},", StringComparison.Ordinal)),
        (v, _) => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(v).Replace("{\"schema\":", "{\"extra\":1,\"schema\":", StringComparison.Ordinal)),
        (v, field) => ReplaceField(v, field, "\"" + Marker + new string('x', 300_000) + "\""),
        (v, field) => RemoveField(v, field),
        (v, field) => ReplaceField(v, "zz_unknown", "1"));

    private static byte[] ReplacePayload(byte[] value, string payload)
    {
        var node = JsonNode.Parse(value)!.AsObject();
        node["payload"] = "__REPLACE__";
        return Encoding.UTF8.GetBytes(node.ToJsonString().Replace("\"__REPLACE__\"", payload, StringComparison.Ordinal));
    }

    private static byte[] ReplaceField(byte[] value, string field, string json)
    {
        var node = JsonNode.Parse(value)!.AsObject();
        node["payload"]![field] = "__REPLACE__";
        return Encoding.UTF8.GetBytes(node.ToJsonString().Replace("\"__REPLACE__\"", json, StringComparison.Ordinal));
    }

    private static byte[] RemoveField(byte[] value, string field)
    {
        var node = JsonNode.Parse(value)!.AsObject();
        node["payload"]!.AsObject().Remove(field);
        return Encoding.UTF8.GetBytes(node.ToJsonString());
    }

    /// <summary>Byte-level damage on top: none, a cut, or overwritten bytes.</summary>
    private static Gen<byte[]?> Damaged(byte[]? value) =>
        value is null || value.Length == 0 ? Gen.Const(value)
        : Gen.Frequency(
            (4, Gen.Const(value)),
            (1, Gen.Int[0, value.Length - 1].Select(n => (byte[]?)value[..n])),
            (1, Gen.Select(Gen.Int[0, value.Length - 1], Gen.Byte).Array[1, 3].Select(flips =>
            {
                var copy = (byte[])value.Clone();
                foreach (var (at, b) in flips) copy[at] = b;
                return (byte[]?)copy;
            })));

    private static readonly Gen<Func<byte[]?, byte[]?>> s_keyMutation = Gen.Frequency<Func<byte[]?, byte[]?>>(
        (6, Gen.Const<Func<byte[]?, byte[]?>>(k => k)),
        (1, Gen.OneOf<Func<byte[]?, byte[]?>>(
            _ => null, _ => [], _ => "Mk7q-key"u8.ToArray(), k => k is null ? null : [.. k, (byte)'0'], _ => [0xFF, 0xFE, 0x80],
            k => k is null ? null : [(byte)' ', .. k], _ => "{\"id\":1}"u8.ToArray())));

    private static readonly string[] s_changeNames =
    [
        ChangeHeaders.Op, ChangeHeaders.CommitLsn, ChangeHeaders.ChangeLsn, ChangeHeaders.CommitTime, ChangeHeaders.TxIndex, ChangeHeaders.Table,
        ChangeHeaders.TxId, ChangeHeaders.Epoch, ChangeHeaders.Unchanged,
    ];

    /// <summary>Headers: none, the change headers, or them with null values, garbage, duplicates; a bad unchanged list makes the record errant.</summary>
    private static readonly Gen<(Func<Headers?> Headers, bool Valid)> s_headers = Gen.OneOf<(Func<Headers?>, bool)>(
        (() => null, true),
        (() => [], true),
        (() => Change(), true),
        (() => With(Change(), h => { foreach (var name in s_changeNames) h.Add(name, null); }), true),
        (() => With(Change(), h => { foreach (var name in s_changeNames.Where(n => n != ChangeHeaders.Unchanged)) h.Add(name, [0xFF, 0x00, 0xC3]); }), true),
        (() => With(Change(), h => { h.Add(ChangeHeaders.Op, "x"u8.ToArray()); h.Add("traceparent", null); }), true),
        (() => With(Change(), h => h.Add(ChangeHeaders.Unchanged, "[\"no_such_column\"]"u8.ToArray())), true),
        (() => With(Change(), h => h.Add(ChangeHeaders.Unchanged, "[null]"u8.ToArray())), false),
        (() => With(Change(), h => h.Add(ChangeHeaders.Unchanged, "\"Mk7q\""u8.ToArray())), false),
        (() => With(Change(), h => h.Add(ChangeHeaders.Unchanged, [0xFF, 0x5B])), false),
        (() => With(Change(), h => h.Add(ChangeHeaders.Unchanged, "[1,2]"u8.ToArray())), false));

    private static Headers Change()
    {
        var headers = new Headers();
        ChangeHeaders.Write(headers, new ChangeMetadata(ChangeOp.Update, new SourceVersion(0x16B3748, 0x16B3700), DateTime.UtcNow, 1, "public.users", 7,
            new SourceEpoch(1, 42, 1, 0x100)));
        return headers;
    }

    private static Headers With(Headers headers, Action<Headers> change)
    {
        change(headers);
        return headers;
    }

    private static readonly Gen<Case> s_case =
        from row in s_event
        from field in Gen.Int[0, row.Schema.Fields.Count - 1]
        from mutation in s_mutation
        from keyMutation in s_keyMutation
        from headers in s_headers
        let valid = ChangeEventWriter.ValueOf(row.Schema, row.Values)
        let key = EventKeys.Key(row.Schema, row.Values)
        let mutated = mutation(valid, row.Schema.Fields[field].Name)
        from value in Damaged(mutated)
        let mutatedKey = keyMutation(key)
        // An intact event of a table with a key is a record, unless its key was changed (it then disagrees with the value)
        // or its header of unchanged columns is not a list of names (the payload's placeholders could not be told apart).
        let expect = !ReferenceEquals(value, valid) || key is null ? Expect.Either
            : ReferenceEquals(mutatedKey, key) && headers.Valid ? Expect.Record : Expect.Errant
        select new Case(mutatedKey, value, headers.Headers(), expect, row.Values, $"{row.Schema.Table}, field {row.Schema.Fields[field].Name}");

    [Fact]
    public void Nothing_escapes_every_message_is_a_record_or_errant_errors_quote_no_value_and_valid_messages_are_records() =>
        s_case.Array[1, 6].Sample(cases =>
        {
            var reader = new SinkRecordReader();
            var messages = cases.Select((c, i) => new ConsumeResult<byte[]?, byte[]?>
            {
                TopicPartitionOffset = new TopicPartitionOffset("P_USERS", 0, i),
                Message = new Message<byte[]?, byte[]?> { Key = c.Key, Value = c.Value, Headers = c.Headers },
            }).ToList();

            var (records, errant) = reader.Read(messages);

            Assert.Equal(messages.Count, records.Count + errant.Count);
            var seen = records.Select(r => r.Message).Concat(errant.Select(e => e.Message)).ToList();
            Assert.All(messages, m => Assert.Single(seen, s => ReferenceEquals(s, m)));
            Assert.Equal(records.Select(r => r.Offset).Order(), records.Select(r => r.Offset));
            foreach (var e in errant)
            {
                Assert.Equal(SinkRecordReader.Stage, e.Stage);
                Assert.IsType<InvalidRecordException>(e.Error);
                Assert.False(string.IsNullOrWhiteSpace(e.Error.Message));
                Assert.DoesNotContain(Marker, e.Error.Message, StringComparison.Ordinal);
                DeadLetterValueIsSafe(e.Message.Message.Value);
            }
            for (var i = 0; i < cases.Length; i++)
            {
                if (cases[i].Expect == Expect.Errant) Assert.Single(errant, e => e.Message.Offset.Value == i);
                if (cases[i].Expect != Expect.Record) continue;
                var record = Assert.Single(records, r => r.Offset == i);
                Assert.Equal(Encoding.UTF8.GetString(cases[i].Key!), record.Key);
                for (var f = 0; f < cases[i].Values.Length; f++)
                    Assert.True(ContractGen.SameValue(cases[i].Values[f], record.Row!.Values[f]), $"{cases[i].What}: field {f} read back differently");
            }
        }, iter: 1500, threads: 1, print: cases => string.Join("; ", cases.Select(c => $"{c.What}, {c.Expect}, {c.Value?.Length} bytes")));

    /// <summary>The dead-letter topic's value: prepared without an exception, sealed or with every protected field a hash.</summary>
    internal static void DeadLetterValueIsSafe(byte[]? value)
    {
        var (prepared, form) = DeadLetterQueue.PrepareValue(Protector, value);
        switch (form)
        {
            case "sealed":
                Assert.Equal(value, Protector.Unseal(prepared));
                break;
            case "as-received":
                Assert.Same(value, prepared);
                if (value is { Length: > 0 }) FieldProtectorPropertyTests.AssertProtected(prepared!, Protector);
                break;
            case "fields-protected":
                FieldProtectorPropertyTests.AssertProtected(prepared!, Protector);
                break;
            default:
                Assert.Fail($"unknown form {form}");
                break;
        }
    }
}
