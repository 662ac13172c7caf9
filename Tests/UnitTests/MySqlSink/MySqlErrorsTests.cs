using System.Reflection;
using KafkaPipeline.MySqlSinkService;
using MySqlConnector;

namespace KafkaPipeline.UnitTests.MySqlSink;

public class MySqlErrorsTests
{
    // MySqlException has no public constructor: the one the driver uses for server errors.
    private static MySqlException Error(int number, string message) =>
        (MySqlException)typeof(MySqlException).GetConstructor(BindingFlags.NonPublic | BindingFlags.Instance, [typeof(MySqlErrorCode), typeof(string), typeof(string)])!
            .Invoke([(MySqlErrorCode)number, "23000", message]);

    private static bool Known(string name) => name is "name" or "birthdate" or "j";

    [Theory]
    [InlineData(1062, "Duplicate entry '42-Zoë' for key 'PRIMARY'", "MySQL error 1062 (ER_DUP_ENTRY) for key 'PRIMARY': a row with this key exists already")]
    [InlineData(1062, "Duplicate entry 'x@y.com' for key 'users.mail'", "MySQL error 1062 (ER_DUP_ENTRY): a row with this key exists already")]
    [InlineData(1406, "Data too long for column 'name' at row 1", "MySQL error 1406 (ER_DATA_TOO_LONG) for column 'name': the value is too long for the column")]
    [InlineData(1292, "Incorrect date value: '0000-13-45' for column `db`.`users`.`birthdate` at row 1", "MySQL error 1292 (ER_TRUNCATED_WRONG_VALUE) for column 'birthdate'")]
    [InlineData(1366, "Incorrect integer value: 'Zoë' for column 'secret' at row 1", "MySQL error 1366 (ER_TRUNCATED_WRONG_VALUE_FOR_FIELD): the value")]
    [InlineData(4025, "CONSTRAINT `j` failed for `db`.`t`", "MySQL error 4025 (ER_CONSTRAINT_FAILED) for column 'j'")]
    [InlineData(1048, "Column 'name' cannot be null", "MySQL error 1048 (ER_BAD_NULL_ERROR) for column 'name'")]
    public void The_text_names_the_error_and_a_known_column_never_a_value(int number, string message, string expected)
    {
        var text = MySqlErrors.Describe(Error(number, message), Known);
        Assert.StartsWith(expected, text);
        foreach (var value in new[] { "42", "Zoë", "x@y.com", "0000-13-45", "secret" }) Assert.DoesNotContain(value, text);
        Assert.True(MySqlErrors.IsDataError(Error(number, message)));
    }

    [Fact]
    public void Schema_changes_MySQL_refuses_for_good_are_told_from_passing_trouble()
    {
        Assert.True(MySqlErrors.IsDdlRefusal(Error(1118, "Row size too large")));
        Assert.True(MySqlErrors.IsDdlRefusal(Error(1142, "ALTER command denied")));
        Assert.False(MySqlErrors.IsDdlRefusal(Error(1205, "Lock wait timeout exceeded")));
        Assert.False(MySqlErrors.IsDdlRefusal(Error(1213, "Deadlock found")));
    }
}
