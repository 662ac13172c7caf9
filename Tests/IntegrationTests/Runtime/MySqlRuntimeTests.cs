using KafkaPipeline.IntegrationTests.Infrastructure;
using KafkaPipeline.Shared;
using MySqlConnector;

namespace KafkaPipeline.IntegrationTests.Runtime;

// The MariaDB that ./test.sh starts, through MySqlConnector. MariaDB 10.6+ reports utf8mb3 for information_schema and
// SHOW WARNINGS columns (MySql.Data 8.0.16 failed on that name and needed a shim); MySqlConnector needs none.
public sealed class MySqlRuntimeTests
{
    [Fact]
    public async Task Utf8mb4_rows_round_trip_including_a_statement_that_leaves_a_note()
    {
        await using var connection = new MySqlConnection(await TestServers.CreateMySqlDatabaseAsync());
        await connection.OpenAsync();
        const string Create = """
            CREATE TABLE IF NOT EXISTS users (
              id BIGINT PRIMARY KEY, name VARCHAR(200) NOT NULL, note TEXT NOT NULL
            ) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci
            """;
        await Execute(connection, Create);

        // Second time the table exists: the server leaves a note, read with SHOW WARNINGS, whose columns are utf8mb3.
        await Execute(connection, Create);
        var warnings = new List<(string Level, int Code, string Message)>();
        await using (var show = new MySqlCommand("SHOW WARNINGS", connection))
        await using (var reader = await show.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync()) warnings.Add((reader.GetString(0), reader.GetInt32(1), reader.GetString(2)));
        }
        var warning = Assert.Single(warnings);
        Assert.Equal(("Note", 1050), (warning.Level, warning.Code)); // "Table 'users' already exists"

        // 4-byte characters (emoji, supplementary CJK) need utf8mb4 end to end.
        var rows = Enumerable.Range(1, 300)
            .Select(i => (Id: (long)i, Name: $"名前 {i} 🚀😀", Note: $"𠜎 Zoë's row {i} \U0001F9EA; ' \" \\ "))
            .ToList();
        await using (var insert = new MySqlCommand("INSERT INTO users (id, name, note) VALUES (@id, @name, @note)", connection))
        {
            var id = insert.Parameters.Add("@id", MySqlDbType.Int64);
            var name = insert.Parameters.Add("@name", MySqlDbType.VarChar);
            var note = insert.Parameters.Add("@note", MySqlDbType.Text);
            foreach (var row in rows)
            {
                (id.Value, name.Value, note.Value) = (row.Id, row.Name, row.Note);
                Assert.Equal(1, await insert.ExecuteNonQueryAsync());
            }
        }

        var read = new List<(long, string, string)>();
        await using (var select = new MySqlCommand("SELECT id, name, note FROM users ORDER BY id", connection))
        await using (var reader = await select.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync()) read.Add((reader.GetInt64(0), reader.GetString(1), reader.GetString(2)));
        }
        Assert.Equal(rows, read);

        // information_schema columns are utf8mb3 too.
        var columns = new List<(string, string?)>();
        await using (var schema = new MySqlCommand(
            "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS " +
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' ORDER BY ORDINAL_POSITION", connection))
        await using (var reader = await schema.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync()) columns.Add((reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1)));
        }
        Assert.Equal([("id", null), ("name", "utf8mb4"), ("note", "utf8mb4")], columns);
    }

    [Fact]
    public async Task Bulk_load_with_local_infile_works()
    {
        // MySqlBulkLoader (LOAD DATA LOCAL INFILE) needs AllowLoadLocalInfile=true and the server's --local-infile=1. The
        // shared connection strings do not allow it (only the MySQL sink's bulk connections do), so the test adds it.
        var database = await TestServers.CreateMySqlDatabaseAsync();
        await using var connection = new MySqlConnection(new MySqlConnectionStringBuilder(database) { AllowLoadLocalInfile = true }.ConnectionString);
        await connection.OpenAsync();
        await Execute(connection, "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL) CHARACTER SET utf8mb4");
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllLinesAsync(file, Enumerable.Range(1, 1000).Select(i => $"{i}\tname {i} 🚀"));
            var loader = new MySqlBulkLoader(connection)
            {
                TableName = "t", FileName = file, Local = true, FieldTerminator = "\t", LineTerminator = "\n", CharacterSet = "utf8mb4",
            };
            Assert.Equal(1000, await loader.LoadAsync());
            await using var check = new MySqlCommand("SELECT name FROM t WHERE id = 777", connection);
            Assert.Equal("name 777 🚀", await check.ExecuteScalarAsync());
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static async Task Execute(MySqlConnection connection, string sql)
    {
        await using var command = new MySqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
