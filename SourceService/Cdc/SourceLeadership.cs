using System.Diagnostics;
using Npgsql;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// One active source per slot: a session advisory lock on a connection of its own. PostgreSQL releases it the moment
/// that session ends (a kill -9 closes the socket), so a standby polling for it takes over within
/// Source:StandbyRetryInterval. The same connection writes the heartbeats: if it breaks, leadership is lost and
/// the active source stops streaming. (The slot itself also admits one streaming connection only.)
/// </summary>
public sealed class SourceLeadership : IAsyncDisposable
{
    private readonly NpgsqlConnection _connection;
    private readonly string _slot;

    private SourceLeadership(NpgsqlConnection connection, string slot)
    {
        _connection = connection;
        _slot = slot;
    }

    public static async Task<SourceLeadership> AcquireAsync(
        string connectionString, string slot, TimeSpan retry, ILogger logger, CancellationToken ct)
    {
        // Not pooled: a pooled connection would go back to the pool still holding the lock.
        var cs = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = false,
            KeepAlive = 5,
            ApplicationName = "kafkapipeline-source-leader",
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
                            if (standby)
                                logger.LogInformation("Active: took over slot {Slot} after {Seconds:F1} s as standby", slot, waited.Elapsed.TotalSeconds);
                            return new SourceLeadership(connection, slot);
                        }
                    }
                    if (!standby)
                    {
                        logger.LogInformation("Standby: another source is active on slot {Slot}; taking over when it stops (checking every {Retry} ms)",
                            slot, (int)retry.TotalMilliseconds);
                        standby = true;
                    }
                    await Task.Delay(retry, ct);
                }
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException && !ct.IsCancellationRequested)
            {
                await connection.DisposeAsync();
                logger.LogWarning("Could not ask PostgreSQL for the source lock, retrying in {Retry} ms: {Error}", (int)retry.TotalMilliseconds, e.Message);
                await Task.Delay(retry, ct);
            }
            catch
            {
                await connection.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>
    /// Writes a heartbeat into the log (a non-transactional logical message). The slot's stream delivers it after every
    /// transaction that committed before it, so its LSN may be confirmed even when the table itself is idle.
    /// </summary>
    public async Task EmitHeartbeatAsync(CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_logical_emit_message(false, @prefix, '')", _connection);
        cmd.Parameters.AddWithValue("prefix", HeartbeatPrefix + _slot);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public const string HeartbeatPrefix = "kafkapipeline.heartbeat.";

    public async ValueTask DisposeAsync()
    {
        // Closing the session releases the lock.
        await _connection.DisposeAsync();
    }
}
