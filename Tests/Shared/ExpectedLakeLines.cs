using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Confluent.Kafka;
using KafkaPipeline.Shared;

namespace KafkaPipeline.Tests;

/// <summary>
/// The lake line the S3 sink must store for a users change event (docs/events.md, "Lake lines"), written out here from the
/// user and the message's headers as the document says, not with the sink's code. Lines compare in a canonical form
/// (parsed and written again): same members in the same order with the same values.
/// </summary>
internal static class ExpectedLakeLines
{
    private static readonly JsonSerializerOptions s_canonical = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The line of a users row (<paramref name="user"/>) or of a delete (null), with the given key fields for a delete.</summary>
    public static JsonObject Users(UserRecord? user, string key, Headers? headers, int partition, long offset, FieldProtector protector, bool deleteKeyFields = true)
    {
        var line = user is not null ? UserFields(user, protector)
            : deleteKeyFields ? new JsonObject { ["id"] = long.Parse(key, CultureInfo.InvariantCulture) } : [];
        string? Header(string name) => PipelineHeaders.GetString(headers, name);
        var commitLsn = Header(ChangeHeaders.CommitLsn) is { } lsn and not "0/0" ? lsn : null;
        line["__op"] = Header(ChangeHeaders.Op) ?? (user is null ? "d" : null);
        line["__table"] = Header(ChangeHeaders.Table) ?? (user is null ? null : "public.users");
        line["__key"] = key;
        line["__epoch"] = Header(ChangeHeaders.Epoch);
        line["__commit_lsn"] = commitLsn;
        line["__change_lsn"] = commitLsn is null ? null : Header(ChangeHeaders.ChangeLsn) ?? "0/0";
        line["__tx_index"] = Header(ChangeHeaders.TxIndex) is { } index ? long.Parse(index, CultureInfo.InvariantCulture) : null;
        line["__commit_ts"] = Header(ChangeHeaders.CommitTime);
        line["__kafka_partition"] = partition;
        line["__kafka_offset"] = offset;
        line["__deleted"] = user is null ? "true" : "false";
        return line;
    }

    /// <summary>The user's columns in the lake: dates yyyy-MM-dd, timestamps in UTC to the microsecond, the ssn hashed.</summary>
    public static JsonObject UserFields(UserRecord u, FieldProtector protector) => new()
    {
        ["id"] = u.Id,
        ["name"] = u.Name,
        ["username"] = u.Username,
        ["sex"] = u.Sex,
        ["address"] = u.Address,
        ["mail"] = u.Mail,
        ["birthdate"] = u.Birthdate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        ["job"] = u.Job,
        ["company"] = u.Company,
        ["ssn"] = protector.Hash(u.Ssn),
        ["residence"] = u.Residence,
        ["created_at"] = u.CreatedAt.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
        ["updated_at"] = u.UpdatedAt.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
    };

    public static string Canonical(JsonNode line) => line.ToJsonString(s_canonical);

    public static string Canonical(ReadOnlySpan<byte> line) => Canonical(JsonNode.Parse(line)!);

    public static string Canonical(string line) => Canonical(Encoding.UTF8.GetBytes(line));

    /// <summary>
    /// True when <paramref name="line"/> is <paramref name="expected"/>; a delete may also lack its key fields (a sink that
    /// has not seen a row of the table since it started cannot name them).
    /// </summary>
    public static bool Matches(JsonObject expected, string line)
    {
        var actual = Canonical(line);
        if (actual == Canonical(expected)) return true;
        if ((string?)expected["__deleted"] != "true") return false;
        var withoutKeys = new JsonObject(expected.Where(m => m.Key.StartsWith("__", StringComparison.Ordinal)).Select(m =>
            KeyValuePair.Create(m.Key, m.Value?.DeepClone())));
        return actual == Canonical(withoutKeys);
    }

    /// <summary>The row part of a line: every member but the metadata ("__...").</summary>
    public static JsonObject RowPart(string line) =>
        new(JsonNode.Parse(line)!.AsObject().Where(m => !m.Key.StartsWith("__", StringComparison.Ordinal))
            .Select(m => KeyValuePair.Create(m.Key, m.Value?.DeepClone())));
}
