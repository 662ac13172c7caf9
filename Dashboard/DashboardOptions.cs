using KafkaPipeline.Shared;

namespace KafkaPipeline.Dashboard;

/// <summary>Settings "Dashboard:*".</summary>
public sealed class DashboardOptions : IValidatedOptions
{
    public const string Section = "Dashboard";

    /// <summary>The source table; the topic read is {TopicPrefix}{TABLE}, as the source writes it (P_USERS).</summary>
    public string Table { get; set; } = "users";
    public string TopicPrefix { get; set; } = "P_";

    /// <summary>
    /// Shortest time between two pushes to the browsers: changes in between are coalesced into one update (4 a second
    /// at most by default), so a backfill of thousands of users a second costs the browsers no more than one user.
    /// </summary>
    public TimeSpan PushInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>An update is pushed at least this often even when nothing changed, so a page knows it is still live.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Consumer groups the topic browser shows (empty: the sinks' default groups). Listed here because librdkafka's mock
    /// cluster (the embedded Kafka) answers neither ListGroups nor DescribeGroups; their committed offsets (OffsetFetch)
    /// it does answer. Empty by default because the configuration binder adds configured entries to an array's
    /// defaults instead of replacing them.
    /// </summary>
    public string[] ConsumerGroups { get; set; } = [];

    public IReadOnlyList<string> GroupsShown => ConsumerGroups.Length > 0 ? ConsumerGroups : ["mysql-sink", "s3-sink"];

    /// <summary>Most messages the topic browser returns per request.</summary>
    public int MaxMessages { get; set; } = 100;

    /// <summary>Most bytes of one message's key, value or header the topic browser shows (the rest is cut, and said so).</summary>
    public int MaxValueBytes { get; set; } = 64 * 1024;

    /// <summary>Most bytes of the messages one topic browser response carries: it stops at the message that passes it.</summary>
    public int MaxResponseBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// How people sign in (docs/security.md): <c>token</c> (default; a login URL with a browser token, then a cookie),
    /// <c>oidc</c> (OpenID Connect, for a shared deployment: <see cref="Oidc"/>), or <c>none</c>, refused unless the
    /// Dashboard listens on loopback addresses only.
    /// </summary>
    public string Authentication { get; set; } = AuthenticationModes.Token;

    /// <summary>The browser token of <c>token</c> mode (at least 16 characters); empty: one is generated at every start and logged.</summary>
    public string? BrowserToken { get; set; }

    /// <summary>
    /// The wall-screen token: its login URL opens the CEO page only (no topic browser). Empty: generated at every start in
    /// <c>token</c> mode (and logged), none in <c>oidc</c> mode.
    /// </summary>
    public string? WallToken { get; set; }

    /// <summary>OpenID Connect settings of <c>oidc</c> mode.</summary>
    public OidcOptions Oidc { get; set; } = new();

    /// <summary>
    /// Personal fields per table of Pipeline:Tables (keyed "orders" or "sales.orders"; a key without a schema means
    /// public), masked in the topic browser in the table's topic and its dead-letter topic (names compare
    /// case-insensitively, at any depth of a message's payload, whatever their JSON type). A table not listed here:
    /// <see cref="DefaultPersonalFields"/> for users, none for others. Setting it for users replaces the default list.
    /// </summary>
    public Dictionary<string, string[]> PersonalFields { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public static readonly string[] DefaultPersonalFields = ["name", "username", "mail", "address", "birthdate", "ssn"];

    /// <summary>Shows personal fields in clear in the topic browser (protected fields stay hashed). Off by default.</summary>
    public bool RevealPersonalData { get; set; }

    public IReadOnlyList<string> PersonalFieldsOf(TableName table) =>
        PersonalFields.FirstOrDefault(kv => TableName.TryParse(kv.Key, out var t) && table.Is(t!.Schema ?? "public", t.Name)).Value
        ?? (table.Is("public", "users") ? DefaultPersonalFields : []);

    /// <summary>The CEO screen's topic: the users table's.</summary>
    public string Topic => TopicNames.ForTable(TopicPrefix, Table);

    /// <summary>
    /// The topics the browser shows, each with its table: every table's topic and dead-letter topic (Pipeline:Tables),
    /// nothing else of the cluster.
    /// </summary>
    public IReadOnlyDictionary<string, TableName> BrowsableTopics(PipelineOptions pipeline)
    {
        var topics = new Dictionary<string, TableName>(StringComparer.Ordinal);
        foreach (var table in pipeline.TableList)
        {
            topics[table.Topic(TopicPrefix)] = table;
            topics[TopicNames.DeadLetter(table.Topic(TopicPrefix))] = table;
        }
        return topics;
    }

    public IEnumerable<string> Validate(string section)
    {
        foreach (var m in Check.Identifier($"{section}:Table", Table)) yield return m;
        if (!System.Text.RegularExpressions.Regex.IsMatch(TopicPrefix ?? "", @"^[A-Za-z0-9._-]{0,100}\z"))
            yield return $"{section}:TopicPrefix '{TopicPrefix}' may only hold letters, digits, '.', '_' and '-'.";
        if (PushInterval < TimeSpan.FromMilliseconds(50) || PushInterval > TimeSpan.FromSeconds(10))
            yield return $"{section}:PushInterval must be between 00:00:00.050 and 00:00:10 (got {PushInterval}).";
        if (HeartbeatInterval < PushInterval || HeartbeatInterval > TimeSpan.FromMinutes(1))
            yield return $"{section}:HeartbeatInterval must be between PushInterval and 00:01:00 (got {HeartbeatInterval}).";
        if (ConsumerGroups is null || ConsumerGroups.Any(string.IsNullOrWhiteSpace))
            yield return $"{section}:ConsumerGroups must be a list of group ids (empty entries are not allowed).";
        foreach (var m in Check.Range($"{section}:MaxMessages", MaxMessages, 1, 1000)) yield return m;
        foreach (var m in Check.Range($"{section}:MaxValueBytes", MaxValueBytes, 256, 16 * 1024 * 1024)) yield return m;
        foreach (var m in Check.Range($"{section}:MaxResponseBytes", MaxResponseBytes, MaxValueBytes, 64 * 1024 * 1024)) yield return m;
        if (PersonalFields is null || PersonalFields.Values.Any(f => f is null || f.Any(string.IsNullOrWhiteSpace)))
            yield return $"{section}:PersonalFields must list field names per table (empty entries are not allowed).";
        foreach (var key in PersonalFields?.Keys.Where(k => !TableName.TryParse(k, out _)) ?? [])
            yield return $"{section}:PersonalFields:{key} is not a table name: use table or schema.table, as Pipeline:Tables names it.";
        foreach (var m in ValidateAuthentication(section)) yield return m;
    }

    private IEnumerable<string> ValidateAuthentication(string section)
    {
        if (Authentication is not (AuthenticationModes.Token or AuthenticationModes.Oidc or AuthenticationModes.None))
        {
            yield return $"{section}:Authentication must be token, oidc or none (got '{Authentication}').";
            yield break;
        }
        if (!string.IsNullOrEmpty(BrowserToken) && BrowserToken.Length < 16)
            yield return $"{section}:BrowserToken must have at least 16 characters (or be empty: one is generated at start).";
        if (!string.IsNullOrEmpty(WallToken) && WallToken.Length < 16)
            yield return $"{section}:WallToken must have at least 16 characters (or be empty).";
        if (!string.IsNullOrEmpty(WallToken) && WallToken == BrowserToken)
            yield return $"{section}:WallToken must differ from {section}:BrowserToken (it grants less).";
        if (Authentication == AuthenticationModes.Oidc)
        {
            foreach (var m in Oidc.Validate($"{section}:Oidc")) yield return m;
        }
    }
}

public static class AuthenticationModes
{
    public const string Token = "token";
    public const string Oidc = "oidc";
    public const string None = "none";
}

/// <summary>Settings "Dashboard:Oidc:*": the identity provider of a shared deployment (docs/security.md).</summary>
public sealed class OidcOptions
{
    /// <summary>The issuer's URL (its /.well-known/openid-configuration is read at start), https.</summary>
    public string? Authority { get; set; }
    public string? ClientId { get; set; }
    public string? ClientSecret { get; set; }

    /// <summary>Scopes asked for besides openid and profile.</summary>
    public string[] Scopes { get; set; } = [];

    /// <summary>A claim every user must have to see the Dashboard (e.g. a role or group), with <see cref="RequiredClaimValue"/>; empty: any user the provider signs in.</summary>
    public string? RequiredClaimType { get; set; }
    public string? RequiredClaimValue { get; set; }

    /// <summary>Whether the provider's metadata must come over https (only a local test provider turns it off).</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    public IEnumerable<string> Validate(string section)
    {
        if (!Uri.TryCreate(Authority, UriKind.Absolute, out var authority) || authority.Scheme is not ("https" or "http"))
            yield return $"{section}:Authority must be the identity provider's absolute URL (got '{Authority}').";
        else if (RequireHttpsMetadata && authority.Scheme != "https")
            yield return $"{section}:Authority must be https (or set {section}:RequireHttpsMetadata=false for a local test provider).";
        foreach (var m in Check.Required($"{section}:ClientId", ClientId)) yield return m;
        foreach (var m in Check.Required($"{section}:ClientSecret", ClientSecret)) yield return m;
        if (string.IsNullOrWhiteSpace(RequiredClaimType) != string.IsNullOrWhiteSpace(RequiredClaimValue))
            yield return $"{section}:RequiredClaimType and {section}:RequiredClaimValue go together.";
        if (Scopes is null || Scopes.Any(string.IsNullOrWhiteSpace))
            yield return $"{section}:Scopes must be a list of scopes (empty entries are not allowed).";
    }
}
