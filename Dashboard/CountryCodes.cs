using System.Text.Json;
using KafkaPipeline.Shared.Customers;

namespace KafkaPipeline.Dashboard;

/// <summary>
/// Country name -> ISO 3166-1 numeric code (the ids of the map's shapes in world-atlas), from the i18n-iso-countries
/// package's English names and codes (copied next to the program at build time), plus the names the Generator's
/// Bogus data set spells differently. As the customer tally's <see cref="ICountryMap"/> it keeps the screen's
/// countries a bounded set: a residence that is no country name here is counted as "other" (and pushed as that), so
/// sign-up data cannot put arbitrary text on every screen.
/// </summary>
public sealed class CountryCodes(IReadOnlyDictionary<string, string> numericByName) : ICountryMap
{
    // Bogus' address.country names (en locale) that the ISO list spells differently, found by running every Bogus name
    // through the list: name -> alpha-2.
    private static readonly Dictionary<string, string> s_aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Antarctica (the territory South of 60 deg S)"] = "AQ",
        ["Bouvet Island (Bouvetoya)"] = "BV",
        ["British Indian Ocean Territory (Chagos Archipelago)"] = "IO",
        ["Democratic People's Republic of Korea"] = "KP",
        ["Kyrgyz Republic"] = "KG",
        ["Libyan Arab Jamahiriya"] = "LY",
        ["Macedonia"] = "MK",
        ["Micronesia"] = "FM",
        ["Moldova"] = "MD",
        ["Netherlands Antilles"] = "CW", // dissolved in 2010; Curaçao is its largest successor
        ["Palestinian Territory"] = "PS",
        ["Saint Barthelemy"] = "BL",
        ["Saint Martin"] = "MF",
        ["Slovakia (Slovak Republic)"] = "SK",
        ["Svalbard & Jan Mayen Islands"] = "SJ",
        ["Swaziland"] = "SZ",
    };

    private readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _names = ToLookup(numericByName);

    /// <summary>The numeric code as world-atlas writes it ("250" for France), or null when the name is unknown.</summary>
    public string? Numeric(string country) => numericByName.GetValueOrDefault(country.Trim());

    /// <summary>The name as the country list spells it (one string per country name), or "other".</summary>
    public string Map(string residence) =>
        _names.TryGetValue(residence.AsSpan().Trim(), out var name, out _) ? name : CustomerChange.OtherCountry;

    private static Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> ToLookup(IReadOnlyDictionary<string, string> byName)
    {
        var names = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in byName.Keys) names[name] = name;
        return names.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public static CountryCodes Load(string folder)
    {
        var codes = Path.Combine(folder, "codes.json");
        var names = Path.Combine(folder, "en.json");
        if (!File.Exists(codes) || !File.Exists(names))
            throw new FileNotFoundException($"Country codes not found in {folder} (codes.json, en.json): the Dashboard build copies " +
                "them from the npm package i18n-iso-countries; build the Dashboard project again.");
        var numericByAlpha2 = new Dictionary<string, string>(StringComparer.Ordinal);
        using (var doc = JsonDocument.Parse(File.ReadAllBytes(codes)))
        {
            foreach (var row in doc.RootElement.EnumerateArray())
                numericByAlpha2[row[0].GetString()!] = row[2].GetString()!;
        }
        var byName = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        using (var doc = JsonDocument.Parse(File.ReadAllBytes(names)))
        {
            foreach (var country in doc.RootElement.GetProperty("countries").EnumerateObject())
            {
                if (!numericByAlpha2.TryGetValue(country.Name, out var numeric)) continue;
                IEnumerable<JsonElement> spellings = country.Value.ValueKind == JsonValueKind.Array
                    ? country.Value.EnumerateArray() : [country.Value];
                foreach (var spelling in spellings) byName.TryAdd(spelling.GetString()!, numeric);
            }
        }
        foreach (var (name, alpha2) in s_aliases)
        {
            if (numericByAlpha2.TryGetValue(alpha2, out var numeric)) byName[name] = numeric;
        }
        return new CountryCodes(byName);
    }
}
