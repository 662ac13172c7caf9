using System.Numerics;
using KafkaPipeline.MySqlSinkService;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using KafkaPipeline.Shared.Postgres;

namespace KafkaPipeline.UnitTests.MySqlSink;

public class MySqlColumnTypesTests
{
    private static string Mapped(uint oid, int typmod = -1, bool key = false) =>
        MySqlColumnTypes.For(PgTypes.Field("c", PgTypes.BuiltIn(oid)!, typmod, key)).Sql;

    [Theory] // docs/events.md, "Type mapping", the MySQL column
    [InlineData(16, -1, "BOOLEAN")]
    [InlineData(21, -1, "SMALLINT")]
    [InlineData(23, -1, "INT")]
    [InlineData(20, -1, "BIGINT")]
    [InlineData(26, -1, "BIGINT")]
    [InlineData(700, -1, "FLOAT")]
    [InlineData(701, -1, "DOUBLE")]
    [InlineData(1700, (12 << 16 | 2) + 4, "DECIMAL(12,2)")]
    [InlineData(1700, (65 << 16 | 30) + 4, "DECIMAL(65,30)")]
    [InlineData(1700, (66 << 16 | 2) + 4, "LONGTEXT")]
    [InlineData(1700, (40 << 16 | 31) + 4, "LONGTEXT")]
    [InlineData(1700, -1, "LONGTEXT")]
    [InlineData(1043, 10 + 4, "VARCHAR(10)")]
    [InlineData(1042, 255 + 4, "VARCHAR(255)")]
    [InlineData(1043, 256 + 4, "LONGTEXT")]
    [InlineData(1043, -1, "LONGTEXT")]
    [InlineData(25, -1, "LONGTEXT")]
    [InlineData(19, -1, "LONGTEXT")]
    [InlineData(18, -1, "VARCHAR(1)")]
    [InlineData(17, -1, "LONGBLOB")]
    [InlineData(1082, -1, "DATE")]
    [InlineData(1083, -1, "TIME(6)")]
    [InlineData(1266, -1, "VARCHAR(32)")]
    [InlineData(1114, -1, "DATETIME(6)")]
    [InlineData(1184, -1, "DATETIME(6)")]
    [InlineData(1186, -1, "VARCHAR(64)")]
    [InlineData(2950, -1, "CHAR(36)")]
    [InlineData(114, -1, "JSON")]
    [InlineData(3802, -1, "JSON")]
    [InlineData(142, -1, "LONGTEXT")]
    [InlineData(1009, -1, "JSON")]
    [InlineData(1007, -1, "JSON")]
    public void Each_PostgreSQL_type_maps_to_the_documented_MySQL_column(uint oid, int typmod, string expected) =>
        Assert.Equal(expected, Mapped(oid, typmod));

    [Fact]
    public void Text_keys_are_indexable_and_an_enum_is_a_varchar()
    {
        Assert.Equal("VARCHAR(768)", Mapped(25, key: true));
        Assert.Equal("VARCHAR(768)", Mapped(1043, 300 + 4, key: true));
        Assert.Equal("VARCHAR(20)", Mapped(1043, 20 + 4, key: true));
        Assert.Equal("VARCHAR(255)", MySqlColumnTypes.For(new FieldSchema("mood", ValueKind.String, LogicalName: LogicalTypes.Enum)).Sql);
    }

    [Theory]
    [InlineData("smallint", "int", TypeChange.Widen)]
    [InlineData("int", "bigint", TypeChange.Widen)]
    [InlineData("smallint", "bigint", TypeChange.Widen)]
    [InlineData("bigint", "int", TypeChange.Incompatible)]
    [InlineData("int", "int", TypeChange.Same)]
    [InlineData("float", "double", TypeChange.Widen)]
    [InlineData("double", "float", TypeChange.Incompatible)]
    [InlineData("varchar(10)", "varchar(50)", TypeChange.Widen)]
    [InlineData("varchar(50)", "varchar(10)", TypeChange.Incompatible)]
    [InlineData("varchar(50)", "longtext", TypeChange.Widen)]
    [InlineData("char(36)", "longtext", TypeChange.Widen)]
    [InlineData("longtext", "varchar(255)", TypeChange.Incompatible)]
    [InlineData("longtext", "int", TypeChange.Incompatible)]
    [InlineData("decimal(10,2)", "decimal(12,2)", TypeChange.Widen)]
    [InlineData("decimal(10,2)", "decimal(12,4)", TypeChange.Widen)]
    [InlineData("decimal(10,2)", "decimal(11,3)", TypeChange.Widen)]
    [InlineData("decimal(10,2)", "decimal(11,4)", TypeChange.Incompatible)]
    [InlineData("decimal(10,2)", "decimal(10,1)", TypeChange.Incompatible)]
    [InlineData("int", "decimal(12,2)", TypeChange.Widen)]
    [InlineData("int", "decimal(11,2)", TypeChange.Incompatible)]
    [InlineData("bigint", "decimal(19,0)", TypeChange.Widen)]
    [InlineData("decimal(5,0)", "int", TypeChange.Incompatible)]
    [InlineData("int", "longtext", TypeChange.Widen)]
    [InlineData("decimal(10,2)", "longtext", TypeChange.Widen)]
    [InlineData("date", "datetime(6)", TypeChange.Widen)]
    [InlineData("datetime(6)", "date", TypeChange.Incompatible)]
    [InlineData("date", "longtext", TypeChange.Widen)]
    [InlineData("json", "longtext", TypeChange.Widen)]
    [InlineData("longtext", "json", TypeChange.Incompatible)]
    [InlineData("tinyint", "int", TypeChange.Incompatible)]
    [InlineData("tinyint", "longtext", TypeChange.Incompatible)]
    [InlineData("int", "double", TypeChange.Incompatible)]
    [InlineData("varbinary(3072)", "longblob", TypeChange.Widen)]
    [InlineData("longblob", "longtext", TypeChange.Incompatible)]
    public void Only_lossless_changes_widen(string from, string to, TypeChange expected) =>
        Assert.Equal(expected, MySqlColumnTypes.Compare(Parse(from), Parse(to)));

    private static MySqlType Parse(string text)
    {
        var name = text.Split('(')[0];
        var args = text.Contains('(') ? text[(text.IndexOf('(') + 1)..^1].Split(',').Select(long.Parse).ToArray() : [];
        return MySqlType.FromInformationSchema(name, text, args.Length > 0 ? args[0] : null, args.Length > 0 ? args[0] : null,
            args.Length > 1 ? args[1] : 0, args.Length > 0 ? args[0] : null)!;
    }

    [Fact]
    public void Information_schema_types_compare_alike_on_MariaDB_and_MySQL()
    {
        Assert.Equal(MySqlType.BigInt, MySqlType.FromInformationSchema("bigint", "bigint(20)", null, 19, 0, null));
        Assert.Equal(MySqlType.BigInt, MySqlType.FromInformationSchema("bigint", "bigint", null, 19, 0, null));
        Assert.Equal(MySqlType.Boolean, MySqlType.FromInformationSchema("tinyint", "tinyint(1)", null, 3, 0, null));
        Assert.Equal(MySqlType.DateTime, MySqlType.FromInformationSchema("datetime", "datetime(6)", null, null, null, 6));
        Assert.Equal(MySqlType.Decimal(12, 2), MySqlType.FromInformationSchema("decimal", "decimal(12,2)", null, 12, 2, null));
        Assert.Null(MySqlType.FromInformationSchema("bigint", "bigint(20) unsigned", null, 20, 0, null));
        Assert.Null(MySqlType.FromInformationSchema("enum", "enum('a','b')", 1, null, null, null));
    }

    [Fact]
    public void Values_become_the_parameters_MySQL_reads_exactly()
    {
        var big = new DecimalValue(BigInteger.Parse("-123456789012345678901234567890123456789"), 9);
        Assert.Equal("-123456789012345678901234567890.123456789", MySqlColumnTypes.ToMySql(new FieldSchema("d", ValueKind.Decimal, Length: 40, Scale: 9), big));
        Assert.Equal(new DateTime(1901, 12, 13), MySqlColumnTypes.ToMySql(new FieldSchema("d", ValueKind.Date), ConnectValueJson.FromDate(new DateOnly(1901, 12, 13))));
        var micros = ConnectValueJson.FromDateTime(new DateTime(1960, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddTicks(1234560));
        var t = (DateTime)MySqlColumnTypes.ToMySql(new FieldSchema("t", ValueKind.TimestampTz), micros);
        Assert.Equal(new DateTime(1960, 1, 2, 3, 4, 5).AddTicks(1234560), t);
        Assert.Equal(new TimeSpan(0, 23, 59, 59, 999) + TimeSpan.FromTicks(9990), MySqlColumnTypes.ToMySql(new FieldSchema("t", ValueKind.Time), 86_399_999_999L));
        var id = Guid.NewGuid();
        Assert.Equal(id.ToString("D"), MySqlColumnTypes.ToMySql(new FieldSchema("u", ValueKind.Uuid), id));
        var array = new FieldSchema("a", ValueKind.Array, Items: new FieldSchema("a", ValueKind.String));
        Assert.Equal("[\"x\",null,\"y \\\"z\\\" Zoë 東京\"]", MySqlColumnTypes.ToMySql(array, new object?[] { "x", null, "y \"z\" Zoë 東京" }));
    }

    [Fact]
    public void A_value_MySQL_cannot_hold_is_that_records_error_naming_the_field_never_the_value()
    {
        var e = Assert.Throws<InvalidRecordException>(() => MySqlColumnTypes.ToMySql(new FieldSchema("score", ValueKind.Float64), double.NaN));
        Assert.Equal("field 'score' (DOUBLE) is not a finite number, which MySQL's DOUBLE cannot hold", e.Message);
        e = Assert.Throws<InvalidRecordException>(() => MySqlColumnTypes.ToMySql(new FieldSchema("born", ValueKind.Date), 5_000_000));
        Assert.Contains("field 'born' (DATE) is outside the range", e.Message);
        Assert.DoesNotContain("5000000", e.Message);
    }

    [Fact]
    public void Defaults_are_literals_where_MySQL_takes_them_escaped()
    {
        Assert.Equal("42", MySqlColumnTypes.DefaultLiteral(new FieldSchema("n", ValueKind.Int32, Default: 42), MySqlType.Int));
        Assert.Equal("TRUE", MySqlColumnTypes.DefaultLiteral(new FieldSchema("b", ValueKind.Boolean, Default: true), MySqlType.Boolean));
        Assert.Equal("'12.50'", MySqlColumnTypes.DefaultLiteral(new FieldSchema("d", ValueKind.Decimal, Length: 10, Scale: 2, Default: new DecimalValue(1250, 2)), MySqlType.Decimal(10, 2)));
        Assert.Equal("'O\\'Brien \\\\ x'", MySqlColumnTypes.DefaultLiteral(new FieldSchema("s", ValueKind.String, Length: 20, Default: "O'Brien \\ x"), MySqlType.VarChar(20)));
        Assert.Equal("'1969-07-20'", MySqlColumnTypes.DefaultLiteral(new FieldSchema("d", ValueKind.Date, Default: ConnectValueJson.FromDate(new DateOnly(1969, 7, 20))), MySqlType.Date));
        Assert.Null(MySqlColumnTypes.DefaultLiteral(new FieldSchema("s", ValueKind.String, Default: "text"), MySqlType.LongText)); // filled by UPDATE instead
        Assert.Null(MySqlColumnTypes.DefaultLiteral(new FieldSchema("n", ValueKind.Int32), MySqlType.Int));
    }
}
