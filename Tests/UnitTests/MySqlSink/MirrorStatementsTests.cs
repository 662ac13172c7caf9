using System.Text.RegularExpressions;
using KafkaPipeline.MySqlSinkService;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.UnitTests.MySqlSink;

/// <summary>Layouts as MySQL would report them for tables the sink created (the planner's unit tests use them too).</summary>
internal static class TestLayouts
{
    public static readonly IReadOnlySet<string> Ssn = new HashSet<string>(["ssn"], StringComparer.OrdinalIgnoreCase);

    public static TableLayout For(TableSchema schema, IReadOnlySet<string>? excluded = null, params (string Name, MySqlType Type)[] changed)
    {
        var columns = schema.Fields.Where(f => f.IsKey || excluded?.Contains(f.Name) != true).Select(f =>
        {
            var type = changed.FirstOrDefault(c => c.Name == f.Name).Type ?? MySqlColumnTypes.For(f);
            return new MySqlColumn(f.Name, type, type.Sql.ToLowerInvariant(), Nullable: !f.IsKey, HasDefault: false,
                type.IsText ? f.IsKey ? MySqlColumnTypes.KeyCollation : "utf8mb4_unicode_ci" : null);
        }).ToList();
        columns.AddRange(MirrorTable.SinkColumns.Select(c => new MySqlColumn(c, null, "bigint(20) unsigned", false, true, null)));
        return new TableLayout(columns, [.. schema.KeyIndexes.Select(i => schema.Fields[i].Name)]);
    }
}

public class MirrorStatementsTests
{
    private static MirrorStatements Users(InsertMode mode = InsertMode.Upsert) =>
        new(new MirrorTable("users"), TestLayouts.For(UsersEvents.Schema, TestLayouts.Ssn), TestLayouts.Ssn, mode);

    [Fact]
    public void Every_column_but_the_excluded_and_the_sinks_own_is_written_key_first()
    {
        var sql = Users();
        Assert.Equal(["id", "name", "username", "sex", "address", "mail", "birthdate", "job", "company", "residence", "created_at", "updated_at"],
            sql.Written.Select(c => c.Name));
        Assert.Equal(["src_row", "src_op", .. sql.Written.Select(c => c.Name), "src_unchanged", "src_epoch", "src_commit_lsn", "src_change_lsn", "src_commit_ts"],
            sql.StagingColumns);
        Assert.DoesNotContain("`ssn`", sql.StagingSql + sql.UpsertSql(false, false) + sql.UpsertSql(true, false), StringComparison.Ordinal);

        // An excluded column MySQL has (a table of an earlier release) is not written either.
        var withSsn = new MirrorStatements(new MirrorTable("users"), TestLayouts.For(UsersEvents.Schema), TestLayouts.Ssn, InsertMode.Upsert);
        Assert.DoesNotContain("`ssn`", withSsn.StagingSql + withSsn.UpsertSql(false, false), StringComparison.Ordinal);
    }

    [Fact]
    public void Statements_quote_every_identifier_and_carry_values_only_as_parameters()
    {
        var sql = Users();
        var stage = sql.StageSql(2);
        Assert.StartsWith("INSERT INTO `kafkapipeline_staging` (`src_row`, `src_op`, `id`, `name`", stage);
        var parameters = Regex.Matches(stage, @"@p(\d+)").Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(Enumerable.Range(0, 2 * sql.StagingColumns.Count), parameters);
        foreach (var text in new[] { stage, sql.UpsertSql(false, false), sql.UpsertSql(true, true), sql.DeleteSql(false), sql.GuardSql })
        {
            // no literal but the op letters and the unchanged columns' ordinals
            var rest = Regex.Replace(text, @"'[ud]'|FIND_IN_SET\('\d+'", "");
            Assert.DoesNotContain("'", rest);
        }
        Assert.Contains("`address` LONGTEXT COLLATE utf8mb4_unicode_ci NULL", sql.StagingSql);
        Assert.Contains("`birthdate` DATE NULL", sql.StagingSql);
        Assert.Equal(65_535 / sql.StagingColumns.Count, sql.RowsPerStatement);
    }

    [Fact]
    public void The_guard_locks_the_staged_keys_then_drops_what_is_not_newer_than_the_row_or_a_remembered_delete()
    {
        var sql = Users().GuardSql;
        Assert.Contains("SELECT COUNT(*) FROM `kafkapipeline_staging` s JOIN `users` u ON u.`id` = s.`id` FOR UPDATE;", sql);
        Assert.Contains("SELECT COUNT(*) FROM `kafkapipeline_staging` s JOIN `users_deleted` d ON d.`id` = s.`id` FOR UPDATE;", sql);
        Assert.Contains("DELETE s FROM `kafkapipeline_staging` s JOIN `users` u ON u.`id` = s.`id` WHERE NOT " + RecordVersion.NewerSql("s", "u") + ";", sql);
        Assert.Contains("DELETE s FROM `kafkapipeline_staging` s JOIN `users_deleted` d ON d.`id` = s.`id` WHERE NOT " + RecordVersion.NewerSql("s", "d"), sql);
        Assert.Equal("(CASE WHEN s.`src_commit_lsn` <> 0 AND u.`src_commit_lsn` <> 0 THEN (s.`src_epoch`, s.`src_commit_lsn`, s.`src_change_lsn`) > " +
            "(u.`src_epoch`, u.`src_commit_lsn`, u.`src_change_lsn`) ELSE s.`src_commit_ts` > u.`src_commit_ts` END)", RecordVersion.NewerSql("s", "u"));
    }

    [Fact]
    public void A_composite_key_joins_on_every_key_column()
    {
        var schema = new TableSchema("public.lines", [
            new FieldSchema("order_id", ValueKind.Int64, Optional: false, IsKey: true),
            new FieldSchema("line", ValueKind.Int32, Optional: false, IsKey: true),
            new FieldSchema("note", ValueKind.String)]);
        var sql = new MirrorStatements(new MirrorTable("lines"), TestLayouts.For(schema), TestLayouts.Ssn, InsertMode.Upsert);
        Assert.Contains("JOIN `lines` u ON u.`order_id` = s.`order_id` AND u.`line` = s.`line` FOR UPDATE", sql.GuardSql);
        Assert.Contains("DELETE u FROM `lines` u JOIN `kafkapipeline_staging` s ON u.`order_id` = s.`order_id` AND u.`line` = s.`line`", sql.DeleteSql(false));
    }

    [Fact]
    public void Upsert_writes_the_staged_records_left_by_the_guard_and_keeps_unchanged_columns_when_asked()
    {
        var sql = Users();
        var plain = sql.UpsertSql(unchanged: false, oneRow: false);
        Assert.Contains("FROM `kafkapipeline_staging` s WHERE s.`src_op` = 'u'", plain);
        Assert.Contains("ON DUPLICATE KEY UPDATE `name` = s.`name`", plain);
        Assert.Contains("`src_epoch` = s.`src_epoch`", plain);
        Assert.DoesNotContain("`id` = s.`id`,", plain);
        Assert.EndsWith("`synced_at` = UTC_TIMESTAMP(6)", plain);
        Assert.Contains("AND s.`src_row` = @row", sql.UpsertSql(false, oneRow: true));
        var keeping = sql.UpsertSql(unchanged: true, oneRow: false);
        Assert.Contains("`name` = IF(FIND_IN_SET('0', s.`src_unchanged`) > 0, `users`.`name`, s.`name`)", keeping);
        Assert.Contains("`address` = IF(FIND_IN_SET('3', s.`src_unchanged`) > 0, `users`.`address`, s.`address`)", keeping);
    }

    [Fact]
    public void Insert_mode_has_no_update_clause_so_an_existing_key_is_refused()
    {
        var sql = Users(InsertMode.Insert);
        Assert.DoesNotContain("DUPLICATE", sql.UpsertSql(false, false));
        Assert.Contains("WHERE s.`src_op` = 'd' AND NOT", sql.GuardSql); // stale upserts stay, to fail on their existing key
    }

    [Fact]
    public void Delete_remembers_the_delete_then_removes_the_row()
    {
        var sql = Users().DeleteSql(oneRow: false);
        Assert.StartsWith("INSERT INTO `users_deleted` (`id`, `src_epoch`, `src_commit_lsn`, `src_change_lsn`, `src_commit_ts`, `deleted_at`)", sql);
        Assert.Contains("WHERE s.`src_op` = 'd'", sql);
        Assert.Contains("DELETE u FROM `users` u JOIN `kafkapipeline_staging` s ON u.`id` = s.`id` WHERE s.`src_op` = 'd'", sql);
    }

    [Fact]
    public void The_table_is_created_with_a_binary_text_key_and_nullable_columns()
    {
        var sql = new MirrorTable("tags").CreateSql([("name", MySqlType.VarChar(768), true), ("n", MySqlType.Int, false)], ["name"]);
        Assert.Contains("`name` VARCHAR(768) COLLATE utf8mb4_bin NOT NULL", sql);
        Assert.Contains("`n` INT NULL", sql);
        Assert.Contains("PRIMARY KEY (`name`)", sql);
        Assert.Matches(@"CREATE TABLE IF NOT EXISTS `tags_deleted` \(\s*`name` VARCHAR\(768\) COLLATE utf8mb4_bin NOT NULL,", sql);
        Assert.Contains("CHARSET=utf8mb4", sql);
    }

    [Theory]
    [InlineData("users`; DROP TABLE x; --")]
    [InlineData("my users")]
    [InlineData("users'")]
    public void Unsafe_table_name_is_refused(string table)
    {
        var e = Assert.Throws<ArgumentException>(() => new MirrorTable(table));
        Assert.Contains("MySqlSink:Table", e.Message);
    }
}
