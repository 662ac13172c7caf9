using KafkaPipeline.MySqlSinkService;
using KafkaPipeline.Shared.Contract;

namespace KafkaPipeline.UnitTests.MySqlSink;

public class SchemaEvolutionTests
{
    private static readonly DateTime s_t = new(2026, 12, 1, 0, 0, 0, DateTimeKind.Unspecified);
    private static readonly MirrorTable s_table = new("items");

    private static RecordVersion V(ulong lsn) => new(1, lsn, 0, s_t);

    private static TableSchema Schema(params FieldSchema[] fields) =>
        new("public.items", [new FieldSchema("id", ValueKind.Int64, Optional: false, IsKey: true), .. fields]);

    private static readonly FieldSchema s_name = new("name", ValueKind.String);

    private static SchemaPlan Plan(TableLayout? layout, IReadOnlyDictionary<string, ColumnDecision>? decisions = null,
        ColumnDropPolicy policy = ColumnDropPolicy.Keep, params (TableSchema, RecordVersion)[] schemas) =>
        new SchemaEvolution(s_table, TestLayouts.Ssn, policy).Plan(layout, decisions ?? new Dictionary<string, ColumnDecision>(), schemas);

    private static Dictionary<string, ColumnDecision> Decided(string column, bool present, string type, ulong lsn) =>
        new(StringComparer.OrdinalIgnoreCase) { [column] = new ColumnDecision(present, type, V(lsn)) };

    [Fact]
    public void A_missing_table_is_created_from_the_newest_schema_and_every_column_remembered()
    {
        var plan = Plan(null, schemas: [(Schema(), V(5)), (Schema(s_name, new FieldSchema("ssn", ValueKind.String)), V(9))]);
        var create = Assert.Single(plan.Ddl);
        Assert.Contains("CREATE TABLE IF NOT EXISTS `items`", create.Sql[0]);
        Assert.Contains("`name` LONGTEXT NULL", create.Sql[0]);
        Assert.DoesNotContain("ssn", create.Sql[0]);
        Assert.Equal(("name", new ColumnDecision(true, "LONGTEXT", V(9))), Assert.Single(create.Decisions));
        Assert.Empty(plan.Problems);
    }

    [Fact]
    public void Nothing_to_do_for_the_schema_the_table_was_made_from()
    {
        var schema = Schema(s_name);
        Assert.Empty(Plan(TestLayouts.For(schema), schemas: (schema, V(5))).Ddl);
    }

    [Fact]
    public void A_new_column_is_added_nullable_with_the_sources_default()
    {
        var old = Schema(s_name);
        var plan = Plan(TestLayouts.For(old), schemas: (Schema(s_name, new FieldSchema("stock", ValueKind.Int32, Default: 7)), V(5)));
        var add = Assert.Single(plan.Ddl);
        Assert.Equal(["ALTER TABLE `items` ADD COLUMN `stock` INT NULL DEFAULT 7"], add.Sql);
        Assert.Null(add.Fill);

        // A default MySQL takes only as an expression (TEXT): the rows that exist get it by UPDATE.
        plan = Plan(TestLayouts.For(old), schemas: (Schema(s_name, new FieldSchema("note", ValueKind.String, Default: "none yet")), V(5)));
        add = Assert.Single(plan.Ddl);
        Assert.Equal(["ALTER TABLE `items` ADD COLUMN `note` LONGTEXT NULL"], add.Sql);
        Assert.Equal(("UPDATE `items` SET `note` = @value", (object)"none yet"), add.Fill);
    }

    [Fact]
    public void A_widening_is_a_modify_and_a_narrowing_or_another_kind_a_problem_naming_table_column_and_types()
    {
        var intCount = Schema(new FieldSchema("count", ValueKind.Int32));
        var layout = TestLayouts.For(intCount);
        var modify = Assert.Single(Plan(layout, schemas: (Schema(new FieldSchema("count", ValueKind.Int64)), V(5))).Ddl);
        Assert.Equal(["ALTER TABLE `items` MODIFY `count` BIGINT NULL"], modify.Sql);
        Assert.Equal(new ColumnDecision(true, "BIGINT", V(5)), modify.Decisions[0].Decision);

        var textName = TestLayouts.For(Schema(s_name));
        var intName = Schema(new FieldSchema("name", ValueKind.Int32, SourceType: "INT4"));
        var plan = Plan(textName, schemas: (intName, V(5)));
        Assert.Empty(plan.Ddl);
        var problem = plan.Problems[intName];
        Assert.Contains("column name is LONGTEXT in MySQL table items but the source now sends INT (INT4)", problem);
        Assert.Contains("ALTER TABLE `items` MODIFY `name` INT NULL", problem);
        Assert.Contains("ALTER TABLE `items` DROP COLUMN `name`", problem);
        Assert.Contains("restart the MySQL sink", problem);

        var bigCount = TestLayouts.For(Schema(new FieldSchema("count", ValueKind.Int64)));
        Assert.Contains("column count is BIGINT in MySQL table items but the source now sends INT",
            Plan(bigCount, schemas: (intCount, V(5))).Problems[intCount]);
    }

    [Fact]
    public void An_older_schema_than_the_columns_last_change_is_a_lagging_partitions_and_changes_nothing()
    {
        var intCount = Schema(new FieldSchema("count", ValueKind.Int32));
        var bigCount = TestLayouts.For(Schema(new FieldSchema("count", ValueKind.Int64)));
        var plan = Plan(bigCount, Decided("count", true, "BIGINT", 100), schemas: (intCount, V(50)));
        Assert.Empty(plan.Ddl);
        Assert.Empty(plan.Problems);
        // ...but the same schema newer than the widening is a narrowing.
        Assert.Single(Plan(bigCount, Decided("count", true, "BIGINT", 100), schemas: (intCount, V(150))).Problems);
    }

    [Fact]
    public void Keep_never_drops_a_column_the_source_dropped()
    {
        var layout = TestLayouts.For(Schema(s_name));
        Assert.Empty(Plan(layout, schemas: (Schema(), V(5))).Ddl);
    }

    [Fact]
    public void Drop_drops_a_column_a_newer_record_lacks_and_an_older_record_never_brings_it_back()
    {
        var withName = Schema(s_name);
        var without = Schema();
        var drop = Assert.Single(Plan(TestLayouts.For(withName), Decided("name", true, "LONGTEXT", 10), ColumnDropPolicy.Drop, (without, V(20))).Ddl);
        Assert.Equal(["ALTER TABLE `items` DROP COLUMN `name`"], drop.Sql);
        Assert.Equal(new ColumnDecision(false, "", V(20)), drop.Decisions[0].Decision);

        // A record older than the column's addition lacks it because it came before: no drop.
        Assert.Empty(Plan(TestLayouts.For(withName), Decided("name", true, "LONGTEXT", 10), ColumnDropPolicy.Drop, (without, V(5))).Ddl);
        // In one batch the newest schema decides.
        Assert.Empty(Plan(TestLayouts.For(withName), null, ColumnDropPolicy.Drop, (without, V(5)), (withName, V(9))).Ddl);

        // Dropped at 20: a record of 15 that has it does not re-add it; one of 25 does (the source added it again).
        var dropped = Decided("name", false, "", 20);
        Assert.Empty(Plan(TestLayouts.For(without), dropped, ColumnDropPolicy.Drop, (withName, V(15))).Ddl);
        Assert.Empty(Plan(TestLayouts.For(without), dropped, ColumnDropPolicy.Keep, (withName, V(15))).Ddl);
        Assert.Equal(["ALTER TABLE `items` ADD COLUMN `name` LONGTEXT NULL"],
            Assert.Single(Plan(TestLayouts.For(without), dropped, ColumnDropPolicy.Drop, (withName, V(25))).Ddl).Sql);
    }

    [Fact]
    public void An_excluded_column_is_never_added_changed_or_dropped()
    {
        var ssn = new FieldSchema("SSN", ValueKind.Int32);
        Assert.Empty(Plan(TestLayouts.For(Schema()), null, ColumnDropPolicy.Drop, (Schema(ssn), V(5))).Ddl);
        var legacy = TestLayouts.For(Schema(new FieldSchema("ssn", ValueKind.String))); // created before it was excluded
        Assert.Empty(Plan(legacy, null, ColumnDropPolicy.Drop, (Schema(), V(5))).Ddl);
    }

    [Theory]
    [InlineData("src_epoch", "has the name of one of the sink's own columns")]
    [InlineData("Synced_At", "has the name of one of the sink's own columns")]
    [InlineData("src_op", "has the name of one of the sink's own columns")]
    [InlineData("bad name", "is not a name the sink can use in MySQL")]
    [InlineData("Name", "differ only in case")]
    public void A_column_name_the_sink_cannot_use_is_a_problem(string column, string expected)
    {
        var schema = Schema(s_name, new FieldSchema(column, ValueKind.String));
        var plan = Plan(TestLayouts.For(Schema(s_name)), schemas: (schema, V(5)));
        Assert.Contains(expected, plan.Problems[schema]);
        Assert.Contains("source table public.items", plan.Problems[schema]);
        Assert.Contains(expected, Plan(null, schemas: (schema, V(5))).Problems[schema]);
    }

    [Fact]
    public void A_key_column_named_deleted_at_and_a_changed_key_are_problems()
    {
        var keyed = new TableSchema("public.items", [new FieldSchema("deleted_at", ValueKind.Int64, Optional: false, IsKey: true)]);
        Assert.Contains("deleted_at", Plan(null, schemas: (keyed, V(1))).Problems[keyed]);
        Assert.Empty(Plan(null, schemas: (Schema(new FieldSchema("deleted_at", ValueKind.Timestamp)), V(1))).Problems);

        var composite = new TableSchema("public.items", [
            new FieldSchema("id", ValueKind.Int64, Optional: false, IsKey: true), new FieldSchema("part", ValueKind.Int32, Optional: false, IsKey: true)]);
        var problem = Plan(TestLayouts.For(Schema()), schemas: (composite, V(1))).Problems[composite];
        Assert.Contains("the key of source table public.items is (id, part) but the primary key of MySQL table items is (id)", problem);
    }

    [Fact]
    public void A_not_null_column_the_sink_would_write_null_into_is_made_nullable()
    {
        var schema = Schema(s_name);
        var layout = TestLayouts.For(schema);
        var strict = new TableLayout([.. layout.Columns.Select(c => c.Name == "name" ? c with { Nullable = false } : c)], layout.Key);
        var relax = Assert.Single(Plan(strict, schemas: (schema, V(1))).Ddl);
        Assert.Equal(["ALTER TABLE `items` MODIFY `name` LONGTEXT COLLATE utf8mb4_unicode_ci NULL"], relax.Sql);

        // One it cannot write (excluded) and MySQL demands: the table stops with the fix.
        var withSsn = TestLayouts.For(Schema(new FieldSchema("ssn", ValueKind.String)));
        var demanding = new TableLayout([.. withSsn.Columns.Select(c => c.Name == "ssn" ? c with { Nullable = false } : c)], withSsn.Key);
        Assert.Contains("MySQL column ssn of table items is NOT NULL without a default and the sink does not write it (MySqlSink:ExcludeColumns leaves it out)",
            Plan(demanding, schemas: (Schema(), V(1))).Problems.Values.Single());
    }
}
