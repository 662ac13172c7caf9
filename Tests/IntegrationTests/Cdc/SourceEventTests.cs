using KafkaPipeline.IntegrationTests.Infrastructure;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using KafkaPipeline.IntegrationTests.Pipeline;
using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using Npgsql;
using Xunit.Abstractions;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineConvergence;
using static KafkaPipeline.IntegrationTests.Pipeline.PipelineData;

namespace KafkaPipeline.IntegrationTests.Cdc;

/// <summary>
/// What the Cdc source publishes for a table, read back from the topic with the sinks' reader: every column with its
/// type, NULLs, large values an update did not change, schema changes while it streams, and the headers.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class SourceEventTests(ITestOutputHelper output)
{
    private const string KindsTopic = "P_KINDS";
    private static readonly (string, string?)[] KindsSource =
        [("Pipeline:Tables", "kinds"), ("Source:HeartbeatInterval", "00:00:01")];

    private const string KindsTable = """
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
        CREATE DOMAIN short_code AS varchar(8);
        CREATE TABLE kinds (
            id bigint PRIMARY KEY, b boolean, i2 smallint, i4 integer, f4 real, f8 double precision,
            n numeric(40,10), nfree numeric, vc varchar(20), ch char(4), t text, by bytea, d date, tm time,
            ts timestamp, tstz timestamptz, iv interval, u uuid, j json, jb jsonb, e mood, code short_code,
            tags text[], nums integer[], p point)
        """;

    private const string KindsRow = """
        INSERT INTO kinds VALUES (1, true, -32768, 2147483647, 1.5, -2.25e100, 123456789012345678901234567890.0123456789, 0.000001,
            'héllo 😀', 'ab', 'line1' || chr(10) || 'line2', '\x00ff10', '1969-07-20', '23:59:59.999999',
            '2026-12-02 07:20:39.123456', '2026-12-02 09:20:39.654321+02', '1 year 2 mons 3 days 04:05:06.5',
            'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b": null}', 'happy', 'XY-12',
            '{"x","y z",NULL}', '{1,NULL,3}', '(1,2)')
        """;

    [Fact]
    public async Task Every_column_arrives_with_its_type_nulls_as_null_and_the_snapshot_and_the_stream_agree_on_the_schema()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.Cluster.CreateTopic(KindsTopic, PipelineHarness.Partitions);
        await TestServers.ExecutePostgresAsync(h.Postgres, KindsTable, KindsRow, "INSERT INTO kinds (id) VALUES (2)");
        var source = h.Start(PipelineHarness.Source, KindsSource);
        await source.WaitForOutputAsync("Streaming changes", Patience);
        await TestServers.ExecutePostgresAsync(h.Postgres, KindsRow.Replace("VALUES (1,", "VALUES (3,", StringComparison.Ordinal), "INSERT INTO kinds (id) VALUES (4)");

        var events = await ReadRowsAsync(h, KindsTopic, 4);
        var reader = new ChangeEventReader();
        var rows = events.ToDictionary(e => e.Key, e => reader.Read(e.Value!));
        // One schema for snapshot and stream (op r and op c), as bytes.
        Assert.Equal(2, events.Select(e => ChangeHeaders.ReadOp(e.Headers)).Distinct().Count());
        Assert.Single(events.Select(e => Encoding.UTF8.GetString(e.Value![ChangeEventReader.Split(e.Value).Schema])).Distinct());

        var schema = rows["1"].Schema;
        Assert.Equal("public.kinds", schema.Table);
        Assert.Null(schema.Field("p")); // point: not carried (logged, and on /health)
        Assert.True(source.Output.Contains("p (type oid 600)", StringComparison.Ordinal), "the unsupported column is named in the log");
        Assert.Equal(ValueKind.Decimal, schema.Field("n")!.Kind);
        Assert.Equal((40, 10), (schema.Field("n")!.Length, schema.Field("n")!.Scale));
        Assert.Equal(ValueKind.String, schema.Field("nfree")!.Kind);
        Assert.Equal(20, schema.Field("vc")!.Length);
        Assert.Equal(8, schema.Field("code")!.Length); // the domain's own length
        Assert.Equal(LogicalTypes.Enum, schema.Field("e")!.LogicalName);
        Assert.Equal(ValueKind.Array, schema.Field("tags")!.Kind);
        Assert.True(schema.Field("id")!.IsKey);
        Assert.False(schema.Field("id")!.Optional);

        foreach (var key in new[] { "1", "3" })
        {
            var r = rows[key];
            Assert.Equal(true, r["b"]);
            Assert.Equal((short)-32768, r["i2"]);
            Assert.Equal(int.MaxValue, r["i4"]);
            Assert.Equal(1.5f, r["f4"]);
            Assert.Equal(-2.25e100, r["f8"]);
            Assert.Equal("123456789012345678901234567890.0123456789", r["n"]!.ToString());
            Assert.Equal("0.000001", r["nfree"]);
            Assert.Equal("héllo 😀", r["vc"]);
            Assert.Equal("ab  ", r["ch"]); // char(4) keeps its padding
            Assert.Equal("line1\nline2", r["t"]);
            Assert.Equal(new byte[] { 0, 255, 16 }, r["by"]);
            Assert.Equal(ConnectValueJson.FromDate(new DateOnly(1969, 7, 20)), r["d"]);
            Assert.Equal(86_399_999_999L, r["tm"]);
            Assert.Equal(ConnectValueJson.FromDateTime(new DateTime(2026, 12, 2, 7, 20, 39, DateTimeKind.Utc).AddTicks(1234560)), r["ts"]);
            Assert.Equal(ConnectValueJson.FromDateTime(new DateTime(2026, 12, 2, 7, 20, 39, DateTimeKind.Utc).AddTicks(6543210)), r["tstz"]);
            Assert.Equal("P1Y2M3DT4H5M6.5S", r["iv"]);
            Assert.Equal(Guid.Parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), r["u"]);
            Assert.Equal("{\"a\": [1, 2]}", r["j"]);
            Assert.Equal("{\"b\": null}", r["jb"]);
            Assert.Equal("happy", r["e"]);
            Assert.Equal("XY-12", r["code"]);
            Assert.Equal(new object?[] { "x", "y z", null }, (object?[])r["tags"]!);
            Assert.Equal(new object?[] { 1, null, 3 }, (object?[])r["nums"]!);
        }
        foreach (var key in new[] { "2", "4" })
        {
            var r = rows[key];
            Assert.All(schema.Fields.Where(f => !f.IsKey), f => Assert.Null(r[f.Name]));
        }
    }

    [Fact]
    public async Task The_users_table_s_events_have_the_schema_the_contract_describes()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.StartGenerator(totalCount: 20, ratePerSecond: 1_000, maxBatchSize: 10);
        await h.WaitForGeneratorAsync(Patience);
        var source = h.Start(PipelineHarness.Source);
        await source.WaitForOutputAsync("Streaming changes", Patience);
        h.StartGenerator(totalCount: 20, ratePerSecond: 1_000, maxBatchSize: 10);
        await h.WaitForGeneratorAsync(Patience);

        var events = await ReadRowsAsync(h, PipelineHarness.Topic, 40);
        Assert.Contains(events, e => ChangeHeaders.ReadOp(e.Headers) == ChangeOp.Read);
        Assert.Contains(events, e => ChangeHeaders.ReadOp(e.Headers) == ChangeOp.Create);
        Assert.All(events, e => Assert.Equal(Encoding.UTF8.GetString(UsersEvents.Schema.Json),
            Encoding.UTF8.GetString(e.Value![ChangeEventReader.Split(e.Value).Schema])));
        var users = await PostgresUsersAsync(h.Postgres);
        var reader = new ChangeEventReader();
        foreach (var e in events) Assert.Equal(users[long.Parse(e.Key, CultureInfo.InvariantCulture)], UsersEvents.ToUser(reader.Read(e.Value!)));
    }

    [Fact]
    public async Task Headers_name_the_table_the_transaction_and_the_epoch_and_a_new_slot_starts_a_higher_epoch()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.StartGenerator(totalCount: 5, ratePerSecond: 1_000, maxBatchSize: 5);
        await h.WaitForGeneratorAsync(Patience);
        var source = h.Start(PipelineHarness.Source);
        await source.WaitForOutputAsync("Streaming changes", Patience);
        await TestServers.ExecutePostgresAsync(h.Postgres, "UPDATE users SET job = 'moved' WHERE id = 1");
        var first = await ReadRowsAsync(h, PipelineHarness.Topic, 6);
        var epochs = first.Select(e => ChangeHeaders.ReadEpoch(e.Headers)).Distinct().ToList();
        var epoch = Assert.Single(epochs);
        Assert.Equal(1, epoch.Ordinal);
        Assert.NotEqual(0UL, epoch.SystemId);
        Assert.All(first, e => Assert.Equal("public.users", ChangeHeaders.ReadTable(e.Headers)));
        var update = Assert.Single(first, e => ChangeHeaders.ReadOp(e.Headers) == ChangeOp.Update);
        Assert.NotNull(ChangeHeaders.ReadTxId(update.Headers));
        Assert.All(first.Where(e => ChangeHeaders.ReadOp(e.Headers) == ChangeOp.Read), e => Assert.Null(ChangeHeaders.ReadTxId(e.Headers)));

        // The slot is dropped (an operator, a restore): the new slot's history is numbered above the topic's.
        await h.KillAsync(PipelineHarness.Source);
        await WaitUntilAsync("the killed source's slot dropped", async () =>
        {
            try
            {
                await TestServers.ExecutePostgresAsync(h.Postgres, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()");
                return true;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse)
            {
                return false; // the killed source's walsender has not noticed yet
            }
        }, Patience, () => Task.FromResult("the slot is still active"));
        h.Restart(PipelineHarness.Source);
        await h[PipelineHarness.Source].WaitForOutputAsync("Streaming changes", Patience);
        await TestServers.ExecutePostgresAsync(h.Postgres, "UPDATE users SET job = 'moved again' WHERE id = 2");
        var all = await ReadRowsAsync(h, PipelineHarness.Topic, 7, countTombstones: true);
        var later = all.Where(e => ChangeHeaders.ReadEpoch(e.Headers).Ordinal == 2).ToList();
        Assert.Contains(later, e => ChangeHeaders.ReadOp(e.Headers) == ChangeOp.Update && e.Key == "2");
        Assert.All(later, e => Assert.Equal(epoch.SystemId, ChangeHeaders.ReadEpoch(e.Headers).SystemId));
    }

    [Theory]
    [InlineData("DEFAULT")]
    [InlineData("FULL")]
    public async Task A_large_value_an_update_did_not_change_is_never_read_from_the_table_as_it_is_now(string identity)
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.StartGenerator(totalCount: 1, ratePerSecond: 1_000, maxBatchSize: 1);
        await h.WaitForGeneratorAsync(Patience);
        // Random text does not compress: 10 kB of it is stored out of line (TOASTed).
        var large = string.Concat(Enumerable.Range(0, 700).Select(i => Guid.NewGuid().ToString("N")[..15]));
        var later = string.Concat(Enumerable.Range(0, 700).Select(i => Guid.NewGuid().ToString("N")[..15]));
        await using (var conn = new NpgsqlConnection(h.Postgres))
        {
            await conn.OpenAsync();
            await using var set = new NpgsqlCommand($"ALTER TABLE users REPLICA IDENTITY {identity}; UPDATE users SET address = @a WHERE id = 1", conn);
            set.Parameters.AddWithValue("a", large);
            await set.ExecuteNonQueryAsync();
        }
        var source = h.Start(PipelineHarness.Source);
        await source.WaitForOutputAsync("Streaming changes", Patience);
        await using (var conn = new NpgsqlConnection(h.Postgres))
        {
            await conn.OpenAsync();
            // One transaction: the mail changes (the address is unchanged), then the address changes.
            await using var tx = await conn.BeginTransactionAsync();
            await using (var mail = new NpgsqlCommand("UPDATE users SET mail = 'new@example.com' WHERE id = 1", conn, tx)) await mail.ExecuteNonQueryAsync();
            await using (var address = new NpgsqlCommand("UPDATE users SET address = @a WHERE id = 1", conn, tx))
            {
                address.Parameters.AddWithValue("a", later);
                await address.ExecuteNonQueryAsync();
            }
            await tx.CommitAsync();
        }

        var events = await ReadRowsAsync(h, PipelineHarness.Topic, 3);
        var reader = new ChangeEventReader();
        var mailChange = events.Single(e => ChangeHeaders.ReadOp(e.Headers) == ChangeOp.Update && ChangeHeaders.ReadTxIndex(e.Headers) == 0);
        var row = reader.Read(mailChange.Value!, ChangeHeaders.ReadUnchanged(mailChange.Headers));
        Assert.Equal("new@example.com", row["mail"]);
        if (identity == "FULL")
        {
            Assert.False(row.HasUnchanged);
            Assert.Equal(large, row["address"]); // from the old row, not the table's later value
        }
        else
        {
            Assert.Equal(["address"], ChangeHeaders.ReadUnchanged(mailChange.Headers));
            Assert.True(row.IsUnchanged(row.Schema.IndexOf("address")));
            Assert.Contains(LogicalTypes.UnavailablePlaceholder, Encoding.UTF8.GetString(mailChange.Value!), StringComparison.Ordinal);
            Assert.DoesNotContain(later[..30], Encoding.UTF8.GetString(mailChange.Value!), StringComparison.Ordinal);
        }
        var addressChange = events.Single(e => ChangeHeaders.ReadOp(e.Headers) == ChangeOp.Update && ChangeHeaders.ReadTxIndex(e.Headers) == 1);
        Assert.Equal(later, reader.Read(addressChange.Value!)["address"]);
    }

    [Fact]
    public async Task Columns_added_widened_and_dropped_while_the_source_streams_change_the_events_schema()
    {
        await using var h = await PipelineHarness.StartAsync(output);
        h.StartGenerator(totalCount: 2, ratePerSecond: 1_000, maxBatchSize: 2);
        await h.WaitForGeneratorAsync(Patience);
        var source = h.Start(PipelineHarness.Source);
        await source.WaitForOutputAsync("Streaming changes", Patience);

        // One change at a time, each in Kafka before the next: the source reads a new column's default from the catalog
        // when the relation message arrives, and a later ALTER ... TYPE rewrites the table and clears it there
        // (docs/events.md, schema changes).
        string[][] steps =
        [
            ["ALTER TABLE users ADD COLUMN plan text DEFAULT 'free'", "UPDATE users SET job = 'a' WHERE id = 1"],
            ["ALTER TABLE users ADD COLUMN score integer", "UPDATE users SET score = 7 WHERE id = 1"],
            ["ALTER TABLE users ALTER COLUMN score TYPE bigint", "UPDATE users SET score = 8000000000 WHERE id = 1"],
            ["ALTER TABLE users DROP COLUMN company", "UPDATE users SET job = 'b' WHERE id = 1"],
            ["ALTER TABLE users ALTER COLUMN residence DROP NOT NULL", "UPDATE users SET residence = NULL WHERE id = 2"],
        ];
        for (var i = 0; i < steps.Length; i++)
        {
            await TestServers.ExecutePostgresAsync(h.Postgres, steps[i]);
            await ReadRowsAsync(h, PipelineHarness.Topic, 3 + i);
        }

        var events = (await ReadRowsAsync(h, PipelineHarness.Topic, 7)).Where(e => ChangeHeaders.ReadOp(e.Headers) == ChangeOp.Update)
            .OrderBy(e => ChangeHeaders.ReadVersion(e.Headers)).ToList(); // commit order (the two ids are in different partitions)
        var reader = new ChangeEventReader();
        var rows = events.Select(e => reader.Read(e.Value!)).ToList();
        Assert.Equal(5, rows.Count);
        var plan = rows[0].Schema.Field("plan")!;
        Assert.Equal("free", plan.Default); // rows written before the column existed have it
        Assert.Equal("free", rows[0]["plan"]);
        Assert.Equal(ValueKind.Int32, rows[1].Schema.Field("score")!.Kind);
        Assert.Equal(7, rows[1]["score"]);
        Assert.Equal(ValueKind.Int64, rows[2].Schema.Field("score")!.Kind);
        Assert.Equal(8_000_000_000L, rows[2]["score"]);
        Assert.NotNull(rows[2].Schema.Field("company"));
        Assert.Null(rows[3].Schema.Field("company"));
        Assert.Equal("b", rows[3]["job"]);
        Assert.Null(rows[4]["residence"]);
        // Dropping NOT NULL changes no field (pgoutput does not carry nullability): the same schema as before.
        Assert.Equal(4, rows.Select(r => r.Schema).Distinct().Count());
    }

    /// <summary>The rows (or with <paramref name="countTombstones"/> all events) of <paramref name="topic"/>, once it holds that many.</summary>
    private static async Task<List<(string Key, byte[]? Value, Headers Headers)>> ReadRowsAsync(PipelineHarness h, string topic, int count, bool countTombstones = false)
    {
        List<TopicMessage> messages = [];
        await WaitUntilAsync($"{count} events in {topic}", async () =>
        {
            messages = await ReadTopicAsync(h.Bootstrap, topic);
            return messages.Count(m => countTombstones || m.Value is not null) >= count;
        }, Patience, async () => $"{(await ReadTopicAsync(h.Bootstrap, topic)).Count} messages");
        return [.. messages.Where(m => countTombstones || m.Value is not null).Select(m => (m.KeyText, m.Value, m.Headers ?? []))];
    }
}
