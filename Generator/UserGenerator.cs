using System.Diagnostics;
using KafkaPipeline.Shared;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace KafkaPipeline.Generator;

/// <summary>
/// Inserts fake users at a steady rate (binary COPY per batch) and optionally updates some existing ones.
/// Each user gets a trace of its own when tracing is on; its W3C context is stored in the row for the source.
/// </summary>
public sealed class UserGenerator(
    NpgsqlDataSource db,
    IOptions<GeneratorOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<UserGenerator> logger) : BackgroundService
{
    private readonly GeneratorOptions _options = options.Value;
    private long _inserted;
    private long _updated;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var ct = stoppingToken;
        try
        {
            await StartupRetry.WaitForAsync("PostgreSQL (ConnectionStrings:usersdb)",
                c => UsersSchema.EnsureAsync(db, _options.Table, logger, c), logger, ct);
        }
        catch (NotRetriableException e)
        {
            e.StopService(lifetime, logger);
            return;
        }
        logger.LogInformation("Generating users into {Table} at {Rate}/s (total {Total}, update fraction {UpdateFraction})",
            _options.Table, _options.RatePerSecond, _options.TotalCount?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unlimited", _options.UpdateFraction);

        var fake = new FakeUsers(_options.Seed);
        var maxId = await MaxIdAsync(ct);
        var clock = Stopwatch.StartNew();
        var lastSummary = TimeSpan.Zero;
        long lastSummaryCount = 0;
        double updateCredit = 0;

        while (!ct.IsCancellationRequested)
        {
            // Pace by the clock: how many users should exist by now, capped by the batch size and the total.
            var due = (long)(clock.Elapsed.TotalSeconds * _options.RatePerSecond) + 1 - _inserted;
            if (_options.TotalCount is { } total) due = Math.Min(due, total - _inserted);
            due = Math.Min(due, _options.MaxBatchSize);
            if (due > 0)
            {
                await WithRetry("inserting users", c => InsertAsync(fake, (int)due, c), ct);
                _inserted += due;
                maxId = await MaxIdAsync(ct);
                updateCredit += due * _options.UpdateFraction;
                if (updateCredit >= 1 && maxId > 0)
                {
                    var updates = (int)Math.Min(updateCredit, _options.MaxBatchSize);
                    await WithRetry("updating users", c => UpdateAsync(fake, updates, maxId, c), ct);
                    updateCredit -= updates;
                    _updated += updates;
                }
            }

            if (clock.Elapsed - lastSummary >= _options.SummaryInterval)
            {
                var seconds = (clock.Elapsed - lastSummary).TotalSeconds;
                logger.LogInformation("Generated {Inserted} users ({Rate:F0}/s over the last {Seconds:F0} s), {Updated} updates",
                    _inserted, (_inserted - lastSummaryCount) / seconds, seconds, _updated);
                lastSummary = clock.Elapsed;
                lastSummaryCount = _inserted;
            }

            if (_options.TotalCount is { } t && _inserted >= t)
            {
                logger.LogInformation("Generated all {Total} users in {Seconds:F1} s ({Updated} updates); stopping", _inserted, clock.Elapsed.TotalSeconds, _updated);
                lifetime.StopApplication();
                return;
            }
            if (due <= 0 || due < _options.MaxBatchSize)
            {
                // The next user is due when the clock reaches _inserted / rate.
                var next = TimeSpan.FromSeconds(_inserted / _options.RatePerSecond) - clock.Elapsed;
                if (next > TimeSpan.Zero) await Task.Delay(next < TimeSpan.FromSeconds(1) ? next : TimeSpan.FromSeconds(1), ct);
            }
        }
    }

    private async Task InsertAsync(FakeUsers fake, int count, CancellationToken ct)
    {
        var users = new NewUser[count];
        for (var i = 0; i < count; i++) users[i] = fake.Next();

        // One trace per user (only when something listens): the insert span is its root.
        var activities = new Activity?[count];
        if (PipelineTelemetry.Source.HasListeners())
        {
            for (var i = 0; i < count; i++)
            {
                activities[i] = PipelineTelemetry.Source.StartActivity("generator insert", ActivityKind.Producer, parentContext: default);
                activities[i]?.SetTag("db.system", "postgresql");
                activities[i]?.SetTag("db.collection.name", _options.Table);
                Activity.Current = null; // keep the users' traces separate
            }
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var table = SqlIdentifier.QuotePostgres(_options.Table);
        await using (var copy = await conn.BeginBinaryImportAsync(
            $"COPY {table} (name, username, sex, address, mail, birthdate, job, company, ssn, residence, trace_parent) FROM STDIN (FORMAT BINARY)", ct))
        {
            for (var i = 0; i < count; i++)
            {
                var u = users[i];
                await copy.StartRowAsync(ct);
                await copy.WriteAsync(u.Name, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(u.Username, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(u.Sex, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(u.Address, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(u.Mail, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(u.Birthdate, NpgsqlDbType.Date, ct);
                await copy.WriteAsync(u.Job, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(u.Company, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(u.Ssn, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(u.Residence, NpgsqlDbType.Text, ct);
                if (activities[i]?.Id is { } traceParent) await copy.WriteAsync(traceParent, NpgsqlDbType.Text, ct);
                else await copy.WriteNullAsync(ct);
            }
            await copy.CompleteAsync(ct);
        }
        await tx.CommitAsync(ct);
        foreach (var a in activities) a?.Stop();
        PipelineTelemetry.RecordsOut.Add(count, new KeyValuePair<string, object?>("service", "generator"));
        PipelineTelemetry.BatchSize.Record(count, new KeyValuePair<string, object?>("service", "generator"));
    }

    /// <summary>Changes job and residence of random existing users; the table's trigger moves updated_at.</summary>
    private async Task UpdateAsync(FakeUsers fake, int count, long maxId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var batch = new NpgsqlBatch(conn);
        var table = SqlIdentifier.QuotePostgres(_options.Table);
        for (var i = 0; i < count; i++)
        {
            using var activity = PipelineTelemetry.Source.StartActivity("generator update", ActivityKind.Producer, parentContext: default);
            Activity.Current = null;
            var cmd = new NpgsqlBatchCommand($"UPDATE {table} SET job = $1, residence = $2, trace_parent = $3 WHERE id = $4");
            cmd.Parameters.Add(new NpgsqlParameter { Value = fake.NextJob() });
            cmd.Parameters.Add(new NpgsqlParameter { Value = fake.NextCountry() });
            cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)activity?.Id ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            cmd.Parameters.Add(new NpgsqlParameter { Value = fake.NextId(maxId) });
            batch.BatchCommands.Add(cmd);
        }
        await using var tx = await conn.BeginTransactionAsync(ct);
        batch.Transaction = tx;
        await batch.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
    }

    private async Task<long> MaxIdAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"SELECT coalesce(max(id), 0) FROM {SqlIdentifier.QuotePostgres(_options.Table)}");
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>PostgreSQL going away must not stop the generator: retry the same batch with backoff.</summary>
    private Task WithRetry(string what, Func<CancellationToken, Task> action, CancellationToken ct) =>
        Backoff.UntilDoneAsync("PostgreSQL", what, action, s_maxRetryDelay, logger, ct, IsTransient);

    private static readonly TimeSpan s_maxRetryDelay = TimeSpan.FromSeconds(5);

    private static bool IsTransient(Exception e) => e is NpgsqlException or TimeoutException;
}
