using KafkaPipeline.MySqlSinkService;

namespace KafkaPipeline.UnitTests.MySqlSink;

public class MySqlSinkOptionsTests
{
    private static List<string> Validate(MySqlSinkOptions o) => o.Validate(MySqlSinkOptions.Section).ToList();

    [Fact]
    public void Defaults_are_valid_and_name_the_tutorial_topics()
    {
        var o = new MySqlSinkOptions();
        Assert.Empty(Validate(o));
        Assert.Equal("P_USERS", o.EffectiveTopic);
        Assert.Equal("P_USERS.dlq", o.EffectiveDeadLetterTopic);
        Assert.Equal(InsertMode.Upsert, o.InsertMode);
        Assert.Equal("mysql-sink", o.GroupId);
        Assert.Equal(["ssn"], o.ExcludedColumns);
        Assert.Contains("SSN", o.ExcludedColumns); // case-insensitive, as MySQL's column names
        Assert.Equal(ColumnDropPolicy.Keep, o.OnColumnDropped);
    }

    [Theory]
    [InlineData("plugin.library.paths", "is refused")]
    [InlineData("ssl.key.location", "is refused")]
    [InlineData("sasl.kerberos.kinit.cmd", "is refused")]
    [InlineData("group.id", "cannot be overridden")]
    public void Librdkafka_overrides_that_load_code_or_touch_files_are_refused_naming_the_key(string key, string expected)
    {
        var message = Assert.Single(Validate(new MySqlSinkOptions { ConsumerOverrides = new() { [key] = "x" } }));
        Assert.StartsWith($"MySqlSink:ConsumerOverrides:{key} {expected}", message);
    }

    [Fact]
    public void Topic_override_and_dead_letter_topic_follow_it()
    {
        var o = new MySqlSinkOptions { Topic = "other.users" };
        Assert.Equal("other.users", o.EffectiveTopic);
        Assert.Equal("other.users.dlq", o.EffectiveDeadLetterTopic);
        Assert.Equal("P_CUSTOMERS", new MySqlSinkOptions { SourceTable = "customers" }.EffectiveTopic);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    [InlineData(100_001)]
    public void Batch_size_out_of_range_names_the_setting(int size)
    {
        var message = Assert.Single(Validate(new MySqlSinkOptions { BatchSize = size }));
        Assert.Contains("MySqlSink:BatchSize", message);
        Assert.Contains($"got {size}", message);
    }

    [Theory]
    [InlineData("users'; DROP TABLE users; --")]
    [InlineData("us`ers")]
    [InlineData("my users")]
    [InlineData("users\"")]
    [InlineData("")]
    [InlineData("1users")]
    public void Table_that_is_not_a_plain_identifier_is_rejected_naming_the_setting(string table)
    {
        var message = Assert.Single(Validate(new MySqlSinkOptions { Table = table }));
        Assert.StartsWith("MySqlSink:Table", message);
    }

    [Fact]
    public void Other_settings_are_checked_too()
    {
        var messages = Validate(new MySqlSinkOptions
        {
            StatementRows = 0,
            BulkCopyThreshold = 0,
            ExcludeColumns = "ssn, pass word",
            OnColumnDropped = (ColumnDropPolicy)9,
            RetryBackoffMax = TimeSpan.Zero,
            GroupId = " ",
            SourceTable = "bad name",
            DeadLetterTopic = "bad topic",
            InsertMode = (InsertMode)7,
        });
        foreach (var key in new[] { "StatementRows", "BulkCopyThreshold", "ExcludeColumns", "OnColumnDropped", "RetryBackoffMax", "GroupId", "SourceTable", "DeadLetterTopic", "InsertMode" })
        {
            Assert.Contains(messages, m => m.StartsWith("MySqlSink:" + key, StringComparison.Ordinal));
        }
        Assert.Contains(Validate(new MySqlSinkOptions { StatementRows = MySqlSinkOptions.MaxStatementRows + 1 }),
            m => m.Contains("MySqlSink:StatementRows", StringComparison.Ordinal));
        Assert.Contains(Validate(new MySqlSinkOptions { Table = new string('t', 56) }), m => m.Contains("MySqlSink:Table", StringComparison.Ordinal));
        Assert.Empty(Validate(new MySqlSinkOptions { ExcludeColumns = " , " })); // nothing excluded
        Assert.Empty(Validate(new MySqlSinkOptions { ExcludeColumns = "ssn,birthdate , Mail" }));
        Assert.Contains(Validate(new MySqlSinkOptions { DeadLetterTopic = "P_USERS" }),
            m => m.Contains("MySqlSink:DeadLetterTopic", StringComparison.Ordinal));
    }

    private static MySqlSinkOptions Many(string tables, Action<MySqlSinkOptions>? configure = null)
    {
        var o = new MySqlSinkOptions();
        configure?.Invoke(o);
        o.UsePipeline(new KafkaPipeline.Shared.PipelineOptions { Tables = tables }, MySqlSinkOptions.Section);
        return o;
    }

    [Fact]
    public void Each_table_of_Pipeline_Tables_has_its_topic_dead_letter_topic_and_MySQL_table()
    {
        var o = Many("users, orders, sales.orders");
        Assert.Empty(Validate(o));
        Assert.Equal(["P_USERS", "P_ORDERS", "P_SALES_ORDERS"], o.Topics.Select(t => t.Topic));
        Assert.Equal(["P_USERS.dlq", "P_ORDERS.dlq", "P_SALES_ORDERS.dlq"], o.Topics.Select(t => t.DeadLetterTopic));
        Assert.Equal(["users", "orders", "sales_orders"], o.Topics.Select(t => o.TableOf(t.Table)));
    }

    [Fact]
    public void Plain_exclusions_apply_to_every_table_and_qualified_ones_to_their_table_only()
    {
        var o = Many("users,orders,sales.orders", o => o.ExcludeColumns = "ssn, orders.Card_Number, sales.orders.note");
        Assert.Empty(Validate(o));
        var tables = o.Topics.Select(t => t.Table).ToList();
        Assert.Equal(["ssn"], o.ExcludedColumnsOf(tables[0]));
        Assert.Equal(["Card_Number", "ssn"], o.ExcludedColumnsOf(tables[1]).Order(StringComparer.Ordinal));
        Assert.Contains("card_number", o.ExcludedColumnsOf(tables[1])); // case-insensitive, as MySQL's column names
        Assert.Equal(["note", "ssn"], o.ExcludedColumnsOf(tables[2]).Order(StringComparer.Ordinal));
        Assert.Equal(["ssn"], Many("users,orders").ExcludedColumnsOf(tables[1])); // the default keeps ssn out of every table
    }

    [Theory]
    [InlineData("users,orders", "customers.ssn", "MySqlSink:ExcludeColumns: 'customers.ssn' names table customers")]
    [InlineData("users", "orders..x", "MySqlSink:ExcludeColumns 'orders..x' must list column names")]
    [InlineData("users", "us-ers.ssn", "MySqlSink:ExcludeColumns 'us-ers.ssn' must list column names")]
    public void An_exclusion_of_a_table_the_sink_does_not_carry_or_malformed_is_refused_naming_the_setting(string tables, string exclude, string expected)
    {
        var message = Assert.Single(Validate(Many(tables, o => o.ExcludeColumns = exclude)));
        Assert.StartsWith(expected, message);
    }

    [Fact]
    public void Settings_for_one_topic_are_refused_with_many_tables_naming_them()
    {
        Assert.StartsWith("MySqlSink:Table names one MySQL table", Assert.Single(Validate(Many("users,orders", o => o.Table = "mirror"))));
        Assert.StartsWith("MySqlSink:Topic names one topic", Assert.Single(Validate(Many("users,orders", o => o.Topic = "T"))));
        Assert.StartsWith("MySqlSink:DeadLetterTopic names one topic", Assert.Single(Validate(Many("users,orders", o => o.DeadLetterTopic = "T.dlq"))));
        Assert.Empty(Validate(Many("users,orders", o => { o.SourceTable = "orders"; o.Table = "mirror"; })));
        Assert.StartsWith("Pipeline:Tables", Assert.Single(Validate(Many("users, us'ers"))));
    }
}
