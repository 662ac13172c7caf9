using System.Diagnostics;
using KafkaPipeline.Shared;
using Npgsql;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// One active source per slot: a session advisory lock on a connection of its own, plus a lease the active source
/// renews on that connection. PostgreSQL releases the lock the moment that session ends (a kill -9 closes the socket);
/// a source that is frozen (SIGSTOP) or cut off keeps its session open, so a standby that finds the lease older than
/// Source:LeaseTimeout ends the holder's sessions (its lock connection and the slot's walsender) and takes over. The
/// server also drops a dead peer by itself: the lock connection asks for TCP keepalives and a TCP user timeout.
/// Everything the active source writes about its state runs on this connection (<see cref="RunAsync"/>): a write can
/// only succeed while the lock is held, so a source that lost leadership can never record a snapshot as complete or
/// a position as confirmed.
/// </summary>
public sealed class SourceLeadership : IAsyncDisposable
{
    private readonly NpgsqlConnection _connection;
    private readonly string _slot;
    private readonly string _lease;
    private readonly SemaphoreSlim _use = new(1, 1);

    private SourceLeadership(NpgsqlConnection connection, string slot, string lease)
    {
        _connection = connection;
        _slot = slot;
        _lease = lease;
    }

    /// <summary>The connection options that make the server notice a dead or cut-off client within seconds.</summary>
    public const string ServerSideKeepalives =
        "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3 -c tcp_user_timeout=10000";

    public static async Task EnsureLeaseTableAsync(NpgsqlDataSource db, SourceOptions options, CancellationToken ct) =>
        await SourceTable.EnsureAsync(db, options.LeaseTable, "slot text PRIMARY KEY, pid integer NOT NULL, renewed_at timestamptz NOT NULL",
            (table, reason) => $"The source may not create its lease table {table} (PostgreSQL: {reason}): GRANT CREATE ON SCHEMA to its role.", ct);

    public static async Task<SourceLeadership> AcquireAsync(string connectionString, SourceOptions options, ILogger logger, CancellationToken ct)
    {
        var slot = options.SlotName;
        var lease = SqlIdentifier.QuotePostgres(options.LeaseTable);
        // Not pooled: a pooled connection would go back to the pool still holding the lock.
        var cs = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = false,
            KeepAlive = 5,
            ApplicationName = "kafkapipeline-source-leader",
            Options = ServerSideKeepalives,
        }.ConnectionString;
        var waited = Stopwatch.StartNew();
        var standby = false;
        while (true)
        {
            var connection = new NpgsqlConnection(cs);
            try
            {
                await connection.OpenAsync(ct);
                while (true)
                {
                    await using (var cmd = new NpgsqlCommand("SELECT pg_try_advisory_lock(hashtext('kafkapipeline.cdc.' || @slot))", connection))
                    {
                        cmd.Parameters.AddWithValue("slot", slot);
                        if ((bool)(await cmd.ExecuteScalarAsync(ct))!)
                        {
                            var leader = new SourceLeadership(connection, slot, lease);
                            await leader.RenewAsync(ct);
                            if (standby)
                                logger.LogInformation("Active: took over slot {Slot} after {Seconds:F1} s as standby", slot, waited.Elapsed.TotalSeconds);
                            return leader;
                        }
                    }
                    if (!standby)
                    {
                        logger.LogInformation("Standby: another source is active on slot {Slot}; taking over when it stops (checking every {Retry} ms)",
                            slot, (int)options.StandbyRetryInterval.TotalMilliseconds);
                        standby = true;
                    }
                    await EndStaleHolderAsync(connection, slot, lease, options.LeaseTimeout, logger, ct);
                    await Task.Delay(options.StandbyRetryInterval, ct);
                }
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException && !ct.IsCancellationRequested)
            {
                await connection.DisposeAsync();
                logger.LogWarning("Could not ask PostgreSQL for the source lock, retrying in {Retry} ms: {Error}",
                    (int)options.StandbyRetryInterval.TotalMilliseconds, e.Message);
                await Task.Delay(options.StandbyRetryInterval, ct);
            }
            catch
            {
                await connection.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>
    /// The holder of the lock has not renewed its lease for longer than <paramref name="timeout"/>: it is frozen or cut
    /// off. Its sessions end (the lock connection, and the slot's walsender), which releases the lock and the slot.
    /// </summary>
    private static async Task EndStaleHolderAsync(NpgsqlConnection connection, string slot, string lease, TimeSpan timeout, ILogger logger,
        CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"""
            SELECT l.pid, now() - l.renewed_at, pg_terminate_backend(l.pid),
                   (SELECT pg_terminate_backend(s.active_pid) FROM pg_replication_slots s WHERE s.slot_name = l.slot AND s.active_pid IS NOT NULL)
            FROM {lease} l
            WHERE l.slot = @slot AND l.renewed_at < now() - @timeout AND l.pid <> pg_backend_pid()
              -- the backend still holds the lock (a pid can be reused by an unrelated session)
              AND EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted AND k.pid = l.pid
                          AND ((k.classid::bigint << 32) | k.objid::bigint) = hashtext('kafkapipeline.cdc.' || @slot)::bigint)
            """, connection);
        cmd.Parameters.AddWithValue("slot", slot);
        cmd.Parameters.AddWithValue("timeout", timeout);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (await r.ReadAsync(ct))
            logger.LogWarning("The active source of slot {Slot} (backend {Pid}) has not renewed its lease for {Age}: ending its sessions to take over",
                slot, r.GetInt32(0), r.GetFieldValue<TimeSpan>(1));
    }

    /// <summary>Renews the lease (the standby's evidence that the holder is alive); fails once the session is gone.</summary>
    public Task RenewAsync(CancellationToken ct) => RunAsync(async conn =>
    {
        await using var cmd = new NpgsqlCommand($"""
            INSERT INTO {_lease} (slot, pid, renewed_at) VALUES (@slot, pg_backend_pid(), now())
            ON CONFLICT (slot) DO UPDATE SET pid = EXCLUDED.pid, renewed_at = EXCLUDED.renewed_at
            """, conn);
        cmd.Parameters.AddWithValue("slot", _slot);
        await cmd.ExecuteNonQueryAsync(ct);
    }, ct);

    /// <summary>Runs <paramref name="work"/> on the lock's connection (one command at a time): it succeeds only while the lock is held.</summary>
    public async Task RunAsync(Func<NpgsqlConnection, Task> work, CancellationToken ct)
    {
        await _use.WaitAsync(ct);
        try
        {
            await work(_connection);
        }
        finally
        {
            _use.Release();
        }
    }

    /// <summary>
    /// Writes a heartbeat into the log (a non-transactional logical message). The slot's stream delivers it after every
    /// transaction that committed before it, so its LSN may be confirmed even when the table itself is idle.
    /// </summary>
    public Task EmitHeartbeatAsync(CancellationToken ct) => RunAsync(async conn =>
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_logical_emit_message(false, @prefix, '')", conn);
        cmd.Parameters.AddWithValue("prefix", HeartbeatPrefix + _slot);
        await cmd.ExecuteNonQueryAsync(ct);
    }, ct);

    public const string HeartbeatPrefix = "kafkapipeline.heartbeat.";

    public async ValueTask DisposeAsync()
    {
        // Closing the session releases the lock.
        await _connection.DisposeAsync();
        _use.Dispose();
    }
}
