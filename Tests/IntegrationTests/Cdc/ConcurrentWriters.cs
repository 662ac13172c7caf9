using System.Diagnostics;
using Npgsql;
using Xunit.Abstractions;

namespace KafkaPipeline.IntegrationTests.Cdc;

/// <summary>
/// The workload polling loses rows under: writer tasks whose transactions commit 0-1.5 s after they began (inserts),
/// long transactions updating random users, deletes, rollbacks, and transactions that insert, update and delete the same
/// row. Lock conflicts (deadlocks) abort a transaction now and then, like in production; the audit trigger records only
/// what committed.
/// </summary>
public sealed class ConcurrentWriters(string connectionString, ITestOutputHelper output, int seed = 42)
{
    private long _committed, _rolledBack, _aborted;

    public string Summary => $"{_committed} transactions committed, {_rolledBack} rolled back, {_aborted} aborted by lock conflicts";

    /// <summary>Runs <paramref name="writers"/> tasks (at least 8) for <paramref name="duration"/>.</summary>
    public async Task RunAsync(TimeSpan duration, int writers = 8)
    {
        Assert.True(writers >= 8);
        var clock = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var random = new Random(seed * 100 + w);
            Func<NpgsqlConnection, NpgsqlTransaction, Random, Task> work = (w % 8) switch
            {
                < 4 => InsertLateAsync,
                4 or 5 => UpdateInLongTransactionAsync,
                6 => DeleteAsync,
                _ => InsertUpdateDeleteOneRowAsync,
            };
            while (clock.Elapsed < duration)
            {
                await OneTransactionAsync(work, random);
            }
        })).ToList();
        await Task.WhenAll(tasks);
        output.WriteLine($"writers: {Summary}");
    }

    private async Task OneTransactionAsync(Func<NpgsqlConnection, NpgsqlTransaction, Random, Task> work, Random random)
    {
        try
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var tx = await connection.BeginTransactionAsync();
            await work(connection, tx, random);
            if (random.NextDouble() < 0.1)
            {
                await tx.RollbackAsync();
                Interlocked.Increment(ref _rolledBack);
            }
            else
            {
                await tx.CommitAsync();
                Interlocked.Increment(ref _committed);
            }
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure)
        {
            Interlocked.Increment(ref _aborted);
        }
    }

    /// <summary>1-3 new users; the commit comes 0-1.5 s after the insert (identity and now() are taken before).</summary>
    private static async Task InsertLateAsync(NpgsqlConnection connection, NpgsqlTransaction tx, Random random)
    {
        for (var i = random.Next(1, 4); i > 0; i--) await InsertAsync(connection, tx, random);
        await Task.Delay(random.Next(0, 1500));
    }

    /// <summary>Updates 1-3 random users, holding their row locks 0.5-1.5 s.</summary>
    private static async Task UpdateInLongTransactionAsync(NpgsqlConnection connection, NpgsqlTransaction tx, Random random)
    {
        await using var update = new NpgsqlCommand("""
            UPDATE users SET job = @job, residence = @residence
            WHERE id IN (SELECT id FROM users ORDER BY random() LIMIT @n)
            """, connection, tx);
        update.Parameters.AddWithValue("job", $"Job {random.Next(1_000_000)}");
        update.Parameters.AddWithValue("residence", $"Country {random.Next(200)}");
        update.Parameters.AddWithValue("n", random.Next(1, 4));
        await update.ExecuteNonQueryAsync();
        await Task.Delay(random.Next(500, 1500));
    }

    private static async Task DeleteAsync(NpgsqlConnection connection, NpgsqlTransaction tx, Random random)
    {
        await using var delete = new NpgsqlCommand("DELETE FROM users WHERE id IN (SELECT id FROM users ORDER BY random() LIMIT 1)", connection, tx);
        await delete.ExecuteNonQueryAsync();
        await Task.Delay(random.Next(0, 500));
    }

    /// <summary>Several changes of one row in one transaction: their order must survive (same commit, same key).</summary>
    private static async Task InsertUpdateDeleteOneRowAsync(NpgsqlConnection connection, NpgsqlTransaction tx, Random random)
    {
        var id = await InsertAsync(connection, tx, random);
        await using (var update = new NpgsqlCommand("UPDATE users SET job = 'Changed in its own transaction' WHERE id = @id", connection, tx))
        {
            update.Parameters.AddWithValue("id", id);
            await update.ExecuteNonQueryAsync();
        }
        if (random.NextDouble() < 0.3)
        {
            await using var delete = new NpgsqlCommand("DELETE FROM users WHERE id = @id", connection, tx);
            delete.Parameters.AddWithValue("id", id);
            await delete.ExecuteNonQueryAsync();
        }
        await Task.Delay(random.Next(0, 1500));
    }

    private static async Task<long> InsertAsync(NpgsqlConnection connection, NpgsqlTransaction tx, Random random)
    {
        await using var insert = new NpgsqlCommand("""
            INSERT INTO users (name, username, sex, address, mail, birthdate, job, company, ssn, residence)
            VALUES (@name, @username, 'F', 'Writer Street 1', @mail, '1990-05-17', 'Writer', 'Concurrent Ltd', '000-00-0000', 'Nowhere')
            RETURNING id
            """, connection, tx);
        var n = random.Next(1_000_000);
        insert.Parameters.AddWithValue("name", $"Writer {n}");
        insert.Parameters.AddWithValue("username", $"writer{n}");
        insert.Parameters.AddWithValue("mail", $"writer{n}@example.com");
        return (long)(await insert.ExecuteScalarAsync())!;
    }
}
