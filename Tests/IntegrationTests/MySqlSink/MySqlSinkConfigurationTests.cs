using KafkaPipeline.MySqlSinkService;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MySqlConnector;

namespace KafkaPipeline.IntegrationTests.MySqlSink;

/// <summary>Bad configuration fails at start with a message naming the setting; it never runs half-configured.</summary>
public class MySqlSinkConfigurationTests
{
    private const string SomeMySql = "Server=127.0.0.1;Port=1;User ID=x;Password=y;Database=z;SslMode=None";
    private const string SomeKafka = "127.0.0.1:1";

    [Fact]
    public void Missing_MySQL_connection_string_names_the_setting()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            MySqlSinkApp.Create(["--ConnectionStrings:kafka=" + SomeKafka, "--urls=http://127.0.0.1:0"]));
        Assert.Contains("ConnectionStrings:emaildb", e.Message);
    }

    [Fact]
    public void Missing_Kafka_connection_string_names_the_setting()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            MySqlSinkApp.Create(["--ConnectionStrings:emaildb=" + SomeMySql, "--urls=http://127.0.0.1:0"]));
        Assert.Contains("ConnectionStrings:kafka", e.Message);
    }

    [Fact]
    public void Unparsable_MySQL_connection_string_names_the_setting()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            MySqlSinkApp.Create(MySqlSinkTestKit.SinkArgs("Sever=typo;Nonsense=1", SomeKafka)));
        Assert.Contains("ConnectionStrings:emaildb", e.Message);
    }

    [Theory]
    [InlineData("BatchSize", "0", "MySqlSink:BatchSize must be between 1 and 100000 (got 0)")]
    [InlineData("Table", "users'; DROP TABLE users; --", "MySqlSink:Table 'users'; DROP TABLE users; --' is not a valid identifier")]
    [InlineData("Table", "my`users", "MySqlSink:Table")]
    [InlineData("StatementRows", "0", "MySqlSink:StatementRows")]
    [InlineData("ExcludeColumns", "ssn,pass;word", "MySqlSink:ExcludeColumns")]
    public async Task Invalid_option_fails_the_start_naming_the_setting(string key, string value, string expected)
    {
        await using var app = MySqlSinkApp.Create(MySqlSinkTestKit.SinkArgs(SomeMySql, SomeKafka,
            new Dictionary<string, string> { [key] = value }));
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void An_unknown_drop_policy_names_the_setting()
    {
        var app = MySqlSinkApp.Create(MySqlSinkTestKit.SinkArgs(SomeMySql, SomeKafka, new Dictionary<string, string> { ["OnColumnDropped"] = "purge" }));
        var e = Assert.ThrowsAny<InvalidOperationException>(() => app.Services.GetRequiredService<IOptions<MySqlSinkOptions>>().Value);
        Assert.Contains("MySqlSink:OnColumnDropped", e.Message);
        Assert.Equal(ColumnDropPolicy.Drop, MySqlSinkApp.Create(MySqlSinkTestKit.SinkArgs(SomeMySql, SomeKafka,
            new Dictionary<string, string> { ["OnColumnDropped"] = "drop" })).Services.GetRequiredService<IOptions<MySqlSinkOptions>>().Value.OnColumnDropped);
    }

    [Fact]
    public async Task A_table_of_the_same_name_with_another_layout_stops_the_service_with_a_clear_message()
    {
        await using var kit = await MySqlSinkTestKit.CreateAsync();
        using (var conn = new MySqlConnection(kit.MySql))
        {
            conn.Open();
            using var cmd = new MySqlCommand("CREATE TABLE `users` (id BIGINT PRIMARY KEY, email VARCHAR(100))", conn);
            cmd.ExecuteNonQuery();
        }
        var app = await kit.StartSinkAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!kit.Logs.Contains(LogLevel.Critical, "is not the sink's") && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.True(kit.Logs.Contains(LogLevel.Critical,
            "MySQL table users exists but is not the sink's (it has no src_commit_lsn, src_change_lsn, synced_at); drop it or choose another MySqlSink:Table."), kit.Logs.Text);
    }
}
