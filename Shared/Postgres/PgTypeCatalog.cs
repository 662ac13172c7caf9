using KafkaPipeline.Shared.Contract;
using Npgsql;

namespace KafkaPipeline.Shared.Postgres;

/// <summary>
/// Resolves type OIDs (as relation messages and the catalog name them) to the <see cref="PgType"/>s the pipeline carries:
/// built-ins from <see cref="PgTypes"/>, and from pg_type an enum (carried as text), a domain (as its base type, with the
/// domain's own modifier), a one-dimensional array of a carried type, and citext. Anything else resolves to null: not
/// carried. Answers are cached for the life of the catalog (type OIDs do not change meaning).
/// </summary>
public sealed class PgTypeCatalog(NpgsqlDataSource db) : IDisposable
{
    private readonly Dictionary<uint, PgType?> _resolved = [];
    private readonly SemaphoreSlim _lock = new(1, 1);

    public void Dispose() => _lock.Dispose();

    public async Task<PgType?> ResolveAsync(uint oid, CancellationToken ct) => (await ResolveAsync([oid], ct))[oid];

    public async Task<IReadOnlyDictionary<uint, PgType?>> ResolveAsync(IEnumerable<uint> oids, CancellationToken ct)
    {
        await _lock.WaitAsync(ct);
        try
        {
            var wanted = oids.Distinct().ToList();
            var missing = wanted.Where(o => PgTypes.BuiltIn(o) is null && !_resolved.ContainsKey(o)).ToList();
            if (missing.Count > 0) await LoadAsync(missing, ct);
            return wanted.ToDictionary(o => o, o => PgTypes.BuiltIn(o) ?? _resolved.GetValueOrDefault(o));
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task LoadAsync(List<uint> oids, CancellationToken ct)
    {
        // Domains over domains and arrays of domains: follow base and element types until everything is known.
        var rows = new Dictionary<uint, (string Name, char TypType, uint BaseType, uint Element, char Category, int TypMod)>();
        var pending = oids;
        while (pending.Count > 0)
        {
            await using var cmd = db.CreateCommand(
                "SELECT oid, typname, typtype, typbasetype, typelem, typcategory, typtypmod FROM pg_type WHERE oid = ANY(@oids)");
            cmd.Parameters.AddWithValue("oids", pending.Select(o => (long)o).ToArray());
            var next = new List<uint>();
            await using (var r = await cmd.ExecuteReaderAsync(ct))
            {
                while (await r.ReadAsync(ct))
                {
                    var oid = (uint)r.GetFieldValue<uint>(0);
                    var row = (r.GetString(1), r.GetChar(2), r.GetFieldValue<uint>(3), r.GetFieldValue<uint>(4), r.GetChar(5), r.GetInt32(6));
                    rows[oid] = row;
                    foreach (var dependency in new[] { row.Item3, row.Item4 })
                    {
                        if (dependency != 0 && PgTypes.BuiltIn(dependency) is null && !rows.ContainsKey(dependency) && !_resolved.ContainsKey(dependency))
                            next.Add(dependency);
                    }
                }
            }
            pending = next;
        }

        PgType? Resolve(uint oid, int depth)
        {
            if (PgTypes.BuiltIn(oid) is { } builtIn) return builtIn;
            if (_resolved.TryGetValue(oid, out var known)) return known;
            if (depth > 16 || !rows.TryGetValue(oid, out var row)) return null;
            PgType? type = row.TypType switch
            {
                'e' => new PgType(oid, row.Name, PgBinaryFormat.Text, LogicalName: LogicalTypes.Enum),
                'd' => Resolve(row.BaseType, depth + 1) is { } baseType
                    ? baseType with { TypeModifier = row.TypMod >= 0 ? row.TypMod : baseType.TypeModifier }
                    : null,
                'b' when row.Category == 'A' && row.Element != 0 => Resolve(row.Element, depth + 1) is { IsArray: false } element
                    ? new PgType(oid, row.Name, PgBinaryFormat.Array, element)
                    : null,
                'b' when row.Name == "citext" => new PgType(oid, row.Name, PgBinaryFormat.Text),
                _ => null,
            };
            _resolved[oid] = type;
            return type;
        }

        foreach (var oid in oids) Resolve(oid, 0);
    }
}
