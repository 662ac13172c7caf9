using System.Globalization;
using System.Text.Json.Serialization;
using NpgsqlTypes;

namespace KafkaPipeline.Shared.Contract;

/// <summary>
/// One history of the source's positions: a replication slot of one PostgreSQL cluster (its system identifier), on one
/// timeline, created at one LSN. LSNs of different epochs are not comparable (after a restore, a failover to a standby
/// that was behind, or a move to another cluster the new LSNs can be lower than the old ones). <see cref="Ordinal"/>
/// orders epochs: the source gives a new one a number above every epoch the topic holds, so a later epoch is always
/// newer. Header form: "ordinal:system_identifier:timeline:slot_lsn" ("2:7421937485739012345:1:0/1A2B3C4").
/// </summary>
public readonly record struct SourceEpoch(long Ordinal, ulong SystemId, uint Timeline, ulong SlotLsn)
{
    public static SourceEpoch None => default;

    public bool IsNone => Ordinal == 0;

    /// <summary>Same history: the same slot of the same cluster and timeline (then LSNs compare).</summary>
    public bool SameHistory(SourceEpoch other) => this == other;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Ordinal}:{SystemId}:{Timeline}:{new NpgsqlLogSequenceNumber(SlotLsn)}");

    public static bool TryParse(string? text, out SourceEpoch epoch)
    {
        epoch = None;
        if (text is null) return false;
        var parts = text.Split(':');
        if (parts.Length != 4
            || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ordinal) || ordinal <= 0
            || !ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var system)
            || !uint.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var timeline)
            || !NpgsqlLogSequenceNumber.TryParse(parts[3], out var lsn))
            return false;
        epoch = new SourceEpoch(ordinal, system, timeline, (ulong)lsn);
        return true;
    }
}

/// <summary>Source-generated JSON for the small pieces of the contract read with the serializer.</summary>
[JsonSerializable(typeof(string[]))]
internal sealed partial class ContractJson : JsonSerializerContext;
