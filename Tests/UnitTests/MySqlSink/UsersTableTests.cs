using System.Text.RegularExpressions;
using KafkaPipeline.MySqlSinkService;
using KafkaPipeline.Shared;

namespace KafkaPipeline.UnitTests.MySqlSink;

public class UsersTableTests
{
    private static UsersTable Table(string columns = "*", InsertMode mode = InsertMode.Upsert) =>
        new("users", mode, new MySqlSinkOptions { Columns = columns }.ColumnList);

    [Fact]
    public void Default_columns_are_what_the_e_mail_service_needs_and_never_the_ssn()
    {
        var table = Table(new MySqlSinkOptions().Columns);
        Assert.Equal(["id", "name", "username", "mail", "residence", "created_at", "updated_at", "src_commit_lsn", "src_change_lsn", "synced_at"],
            table.WrittenColumns);
        Assert.DoesNotContain("`ssn`", table.CreateSql + table.StagingSql + table.UpsertSql(false), StringComparison.Ordinal);
    }

    [Fact]
    public void Id_and_updated_at_are_always_kept_and_star_keeps_every_column()
    {
        Assert.Equal(["id", "mail", "updated_at"], Table("mail").Columns.Select(c => c.Name));
        Assert.Equal(UsersSchema.Columns, Table("*").Columns.Select(c => c.Name));
    }

    [Fact]
    public void Statements_quote_every_identifier_and_carry_values_only_as_parameters()
    {
        var table = Table();
        var stage = table.StageSql(2);
        Assert.StartsWith("INSERT INTO `kafkapipeline_staging` (`id`, `op`, `name`", stage);
        var columns = table.StagingColumns.Count;
        var parameters = Regex.Matches(stage, @"@p(\d+)").Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(Enumerable.Range(0, 2 * columns), parameters);
        foreach (var sql in new[] { stage, table.UpsertSql(false), table.DeleteSql(false), table.GuardSql })
            Assert.DoesNotContain("'", sql.Replace("'u'", "", StringComparison.Ordinal).Replace("'d'", "", StringComparison.Ordinal)); // no literal but the op letters
        foreach (var c in table.WrittenColumns) Assert.Contains($"`{c}`", table.CreateSql);
        Assert.Contains("CHARSET=utf8mb4", table.CreateSql);
        Assert.Contains("CREATE TABLE IF NOT EXISTS `users_deleted`", table.CreateSql);
    }

    [Fact]
    public void The_guard_locks_the_staged_ids_then_drops_what_is_not_newer_than_the_row_or_a_remembered_delete()
    {
        var sql = Table().GuardSql;
        Assert.Contains("SELECT COUNT(*) FROM `kafkapipeline_staging` s JOIN `users` u ON u.`id` = s.`id` FOR UPDATE;", sql);
        Assert.Contains("SELECT COUNT(*) FROM `kafkapipeline_staging` s JOIN `users_deleted` d ON d.`id` = s.`id` FOR UPDATE;", sql);
        Assert.Contains("DELETE s FROM `kafkapipeline_staging` s JOIN `users` u ON u.`id` = s.`id` WHERE NOT (CASE WHEN s.`src_commit_lsn` <> 0 AND u.`src_commit_lsn` <> 0 " +
            "THEN (s.`src_commit_lsn`, s.`src_change_lsn`) > (u.`src_commit_lsn`, u.`src_change_lsn`) ELSE s.`updated_at` > u.`updated_at` END);", sql);
        Assert.Contains("DELETE s FROM `kafkapipeline_staging` s JOIN `users_deleted` d ON d.`id` = s.`id` WHERE NOT (CASE", sql);
    }

    [Fact]
    public void Upsert_writes_the_staged_records_left_by_the_guard()
    {
        var sql = Table().UpsertSql(oneId: false);
        Assert.Contains("FROM `kafkapipeline_staging` s WHERE s.`op` = 'u'", sql);
        Assert.Contains("ON DUPLICATE KEY UPDATE `name` = s.`name`", sql);
        Assert.DoesNotContain("`id` = s.`id`,", sql);
        Assert.EndsWith("`synced_at` = UTC_TIMESTAMP(6)", sql);
        Assert.Contains("AND s.`id` = @id", Table().UpsertSql(oneId: true));
    }

    [Fact]
    public void Insert_mode_has_no_update_clause_so_an_existing_id_is_refused()
    {
        var table = Table(mode: InsertMode.Insert);
        Assert.DoesNotContain("DUPLICATE", table.UpsertSql(false));
        Assert.Contains("WHERE s.`op` = 'd' AND NOT", table.GuardSql); // stale upserts stay, to fail on their duplicate id
    }

    [Fact]
    public void Delete_remembers_the_delete_then_removes_the_row()
    {
        var sql = Table().DeleteSql(oneId: false);
        Assert.StartsWith("INSERT INTO `users_deleted`", sql);
        Assert.Contains("WHERE s.`op` = 'd'", sql);
        Assert.Contains("DELETE u FROM `users` u JOIN `kafkapipeline_staging` s ON s.`id` = u.`id` WHERE s.`op` = 'd'", sql);
    }

    [Theory]
    [InlineData("users`; DROP TABLE x; --")]
    [InlineData("my users")]
    [InlineData("users'")]
    public void Unsafe_table_name_is_refused(string table)
    {
        var e = Assert.Throws<ArgumentException>(() => new UsersTable(table, InsertMode.Upsert, ["name"]));
        Assert.Contains("MySqlSink:Table", e.Message);
    }

    [Fact]
    public void Staged_values_are_typed_and_a_delete_stages_only_its_id_and_version()
    {
        var table = Table();
        var user = new UserRecord
        {
            Id = 7, Name = "Robert'); DROP TABLE users; --", Birthdate = new DateOnly(1990, 2, 3),
            CreatedAt = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddTicks(1234560), UpdatedAt = new DateTime(2024, 1, 2, 3, 4, 6, DateTimeKind.Utc),
        };
        var values = table.StagedValues(new StagedRecord(7, user, new SourceVersion(100, 7), user.UpdatedAt)).ToList();
        Assert.Equal(table.StagingColumns.Count, values.Count);
        Assert.Equal(7L, values[0].Value);
        Assert.Equal("u", values[1].Value);
        Assert.Equal(user.Name, values[2].Value);
        Assert.Equal(user.CreatedAt.Ticks, ((DateTime)values[12].Value!).Ticks); // microseconds kept
        Assert.Equal(100UL, values[^2].Value);
        Assert.Equal(7UL, values[^1].Value);

        var deletedAt = new DateTime(2024, 5, 1, 0, 0, 0, DateTimeKind.Utc);
        var delete = table.StagedValues(new StagedRecord(7, null, new SourceVersion(200, 0), deletedAt)).ToList();
        Assert.Equal("d", delete[1].Value);
        Assert.Equal(deletedAt, delete[13].Value);
        Assert.All(delete.Skip(2).Take(11), v => Assert.Null(v.Value));
    }
}
