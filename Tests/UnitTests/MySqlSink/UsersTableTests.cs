using System.Text.RegularExpressions;
using KafkaPipeline.MySqlSinkService;
using KafkaPipeline.Shared;
using MySqlConnector;

namespace KafkaPipeline.UnitTests.MySqlSink;

public class UsersTableTests
{
    private static readonly string[] s_allColumns = [.. UsersSchema.Columns, "synced_at"];

    private static UserRecord User(long id, string name = "Ann") => new()
    {
        Id = id, Name = name, Username = "ann", Sex = "F", Address = "1 Main St", Mail = "ann@example.com",
        Birthdate = new DateOnly(1990, 2, 3), Job = "dev", Company = "ACME", Ssn = "123-45-6789", Residence = "Here",
        CreatedAt = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddTicks(1234560),
        UpdatedAt = new DateTime(2024, 1, 2, 3, 4, 6, DateTimeKind.Utc),
    };

    [Fact]
    public void Upsert_quotes_every_identifier_and_uses_only_parameters()
    {
        var sql = new UsersTable("users", InsertMode.Upsert).InsertSql(2);
        Assert.StartsWith("INSERT INTO `users` (`id`, `name`", sql);
        foreach (var c in s_allColumns) Assert.Contains($"`{c}`", sql);
        // 13 parameters a row, numbered row-major, and nothing else but the sink's own timestamp in VALUES.
        var parameters = Regex.Matches(sql, @"@p(\d+)").Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(Enumerable.Range(0, 26), parameters);
        Assert.DoesNotContain("'", sql);
        Assert.Equal(2, Regex.Count(sql, @"UTC_TIMESTAMP\(6\)\)"));
        Assert.Contains("ON DUPLICATE KEY UPDATE `synced_at` = IF(`updated_at` <=> VALUES(`updated_at`), `synced_at`, VALUES(`synced_at`))", sql);
        foreach (var c in UsersSchema.Columns.Skip(1)) Assert.Contains($"`{c}` = VALUES(`{c}`)", sql);
        Assert.DoesNotContain("`id` = VALUES", sql);
    }

    [Fact]
    public void Insert_mode_has_no_update_clause()
    {
        var sql = new UsersTable("customers_copy", InsertMode.Insert).InsertSql(3);
        Assert.StartsWith("INSERT INTO `customers_copy` (", sql);
        Assert.DoesNotContain("DUPLICATE", sql);
        Assert.Contains("@p38", sql);
        Assert.DoesNotContain("@p39", sql);
    }

    [Theory]
    [InlineData("users`; DROP TABLE x; --")]
    [InlineData("my users")]
    [InlineData("users'")]
    public void Unsafe_table_name_is_refused(string table)
    {
        var e = Assert.Throws<ArgumentException>(() => new UsersTable(table, InsertMode.Upsert));
        Assert.Contains("MySqlSink:Table", e.Message);
    }

    [Fact]
    public void Values_travel_as_typed_parameters_never_in_the_text()
    {
        var evil = "Robert'); DROP TABLE users; --";
        var table = new UsersTable("users", InsertMode.Upsert);
        var sql = table.InsertSql(2);
        Assert.DoesNotContain("Robert", sql);

        using var cmd = new MySqlCommand(sql);
        UsersTable.AddParameters(cmd.Parameters, [User(7, evil), User(8)]);
        Assert.Equal(26, cmd.Parameters.Count);
        Assert.Equal(7L, cmd.Parameters["@p0"].Value);
        Assert.Equal(evil, cmd.Parameters["@p1"].Value);
        Assert.Equal(new DateTime(1990, 2, 3), cmd.Parameters["@p6"].Value);
        Assert.Equal(MySqlDbType.Date, cmd.Parameters["@p6"].MySqlDbType);
        // Timestamps keep their microseconds and are stored as UTC wall-clock values.
        Assert.Equal(User(7).CreatedAt.Ticks, ((DateTime)cmd.Parameters["@p11"].Value!).Ticks);
        Assert.Equal(8L, cmd.Parameters["@p13"].Value);
    }

    [Fact]
    public void Create_statement_has_the_contract_columns_and_utf8mb4()
    {
        var ddl = new UsersTable("users", InsertMode.Upsert).CreateSql;
        Assert.StartsWith("CREATE TABLE IF NOT EXISTS `users`", ddl);
        Assert.Contains("PRIMARY KEY (`id`)", ddl);
        Assert.Contains("CHARSET=utf8mb4", ddl);
        foreach (var c in s_allColumns) Assert.Contains($"`{c}`", ddl);
        Assert.Contains("`created_at` DATETIME(6)", ddl);
        Assert.Contains("`birthdate`  DATE", ddl);
    }
}

public sealed class UpsertSyntaxTests
{
    [Theory]
    [InlineData("10.11.6-MariaDB-0+deb12u1", false)]
    [InlineData("5.5.5-10.11.6-MariaDB", false)]
    [InlineData("8.0.18", false)]
    [InlineData("8.0.19", true)]
    [InlineData("9.7.0", true)]
    public void Row_alias_only_on_mysql_8_0_19_and_later(string version, bool expected) =>
        Assert.Equal(expected, MySqlSinkService.UsersTable.SupportsRowAlias(version));

    [Fact]
    public void Row_alias_statement_uses_new_dot_column_and_no_values_function()
    {
        var table = new MySqlSinkService.UsersTable("users", MySqlSinkService.InsertMode.Upsert) { UseRowAlias = true };
        var sql = table.InsertSql(2);
        Assert.Contains(" AS `new` ON DUPLICATE KEY UPDATE `synced_at` = IF(`updated_at` <=> `new`.`updated_at`, `synced_at`, `new`.`synced_at`)", sql, StringComparison.Ordinal);
        Assert.Contains("`residence` = `new`.`residence`", sql, StringComparison.Ordinal);
        Assert.DoesNotContain("VALUES(", sql, StringComparison.Ordinal);
    }
}
