using KafkaPipeline.IntegrationTests.Infrastructure;
using Npgsql;
using NpgsqlTypes;

namespace KafkaPipeline.IntegrationTests.Runtime;

// The PostgreSQL that ./test.sh starts: real round trips through Npgsql, and the settings the source relies on.
public sealed class PostgresRuntimeTests
{
    [Fact]
    public async Task Rows_written_are_read_back_equal()
    {
        await using var db = NpgsqlDataSource.Create(await TestServers.CreatePostgresDatabaseAsync());
        await using (var create = db.CreateCommand(
            "CREATE TABLE t (id bigint PRIMARY KEY, name text NOT NULL, born date NOT NULL, at timestamptz NOT NULL, data bytea NOT NULL)"))
        {
            await create.ExecuteNonQueryAsync();
        }

        var random = new Random(42);
        var rows = Enumerable.Range(1, 500).Select(i => (
            Id: (long)i,
            Name: $"user {i} Zoë 北京 🚀",
            Born: new DateOnly(1950, 1, 1).AddDays(random.Next(20000)),
            At: new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(random.NextInt64(TimeSpan.TicksPerDay * 365) / 10 * 10),
            Data: RandomBytes(random, i % 64))).ToList();

        await using (var copyConnection = await db.OpenConnectionAsync())
        await using (var writer = await copyConnection.BeginBinaryImportAsync("COPY t (id, name, born, at, data) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var r in rows)
            {
                await writer.StartRowAsync();
                await writer.WriteAsync(r.Id, NpgsqlDbType.Bigint);
                await writer.WriteAsync(r.Name, NpgsqlDbType.Text);
                await writer.WriteAsync(r.Born, NpgsqlDbType.Date);
                await writer.WriteAsync(r.At, NpgsqlDbType.TimestampTz);
                await writer.WriteAsync(r.Data, NpgsqlDbType.Bytea);
            }
            await writer.CompleteAsync();
        }
        // And one row through a parameterised INSERT.
        await using (var insert = db.CreateCommand("INSERT INTO t (id, name, born, at, data) VALUES ($1, $2, $3, $4, $5)"))
        {
            var extra = (Id: 1000L, Name: "O'Brien; DROP TABLE t; --", Born: new DateOnly(2000, 2, 29),
                At: new DateTime(2024, 2, 29, 23, 59, 59, DateTimeKind.Utc), Data: RandomBytes(random, 10));
            insert.Parameters.Add(new NpgsqlParameter { Value = extra.Id });
            insert.Parameters.Add(new NpgsqlParameter { Value = extra.Name });
            insert.Parameters.Add(new NpgsqlParameter { Value = extra.Born });
            insert.Parameters.Add(new NpgsqlParameter { Value = extra.At });
            insert.Parameters.Add(new NpgsqlParameter { Value = extra.Data });
            Assert.Equal(1, await insert.ExecuteNonQueryAsync());
            rows.Add(extra);
        }

        var read = new List<(long, string, DateOnly, DateTime, byte[])>();
        await using (var select = db.CreateCommand("SELECT id, name, born, at, data FROM t ORDER BY id"))
        await using (var reader = await select.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                read.Add((reader.GetInt64(0), reader.GetString(1), reader.GetFieldValue<DateOnly>(2),
                    reader.GetFieldValue<DateTime>(3), reader.GetFieldValue<byte[]>(4)));
            }
        }

        Assert.Equal(rows.Count, read.Count);
        for (var i = 0; i < rows.Count; i++)
        {
            Assert.Equal(rows[i].Id, read[i].Item1);
            Assert.Equal(rows[i].Name, read[i].Item2);
            Assert.Equal(rows[i].Born, read[i].Item3);
            Assert.Equal(rows[i].At, read[i].Item4);
            Assert.Equal(DateTimeKind.Utc, read[i].Item4.Kind);
            Assert.Equal(rows[i].Data, read[i].Item5);
        }
    }

    [Fact]
    public async Task Server_is_ready_for_logical_replication()
    {
        await using var db = NpgsqlDataSource.Create(TestServers.Postgres);
        Assert.Equal("logical", await Scalar<string>(db, "SHOW wal_level"));
        Assert.Equal("on", await Scalar<string>(db, "SHOW track_commit_timestamp"));
        Assert.True(int.Parse(await Scalar<string>(db, "SHOW max_replication_slots"), System.Globalization.CultureInfo.InvariantCulture) >= 10);
        Assert.True(await Scalar<bool>(db, "SELECT rolreplication AND rolcreatedb FROM pg_roles WHERE rolname = current_user"));

        // A replication connection as the test user works (what the source's logical replication mode opens).
        await using var connection = new Npgsql.Replication.LogicalReplicationConnection(TestServers.Postgres);
        await connection.Open();
        var system = await connection.IdentifySystem();
        Assert.False(string.IsNullOrEmpty(system.SystemId));
    }

    private static async Task<T> Scalar<T>(NpgsqlDataSource db, string sql)
    {
        await using var command = db.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
