using KafkaPipeline.Shared;
using Npgsql;

namespace KafkaPipeline.SourceService;

/// <summary>The source's own bookkeeping tables (its position, the CDC snapshot state): created when missing.</summary>
internal static class SourceTable
{
    /// <param name="name">The table's configured name (validated by the options).</param>
    /// <param name="columns">The column list of CREATE TABLE.</param>
    /// <param name="cannotCreate">The message when the role may not create it, from the quoted name and PostgreSQL's text.</param>
    public static async Task EnsureAsync(NpgsqlDataSource db, string name, string columns, Func<string, string, string> cannotCreate,
        CancellationToken ct)
    {
        var table = SqlIdentifier.QuotePostgres(name);
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await SchemaLock.TakeAsync(conn, tx, name, ct);
        try
        {
            await using var cmd = new NpgsqlCommand($"CREATE TABLE IF NOT EXISTS {table} ({columns})", conn, tx);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new NotRetriableException(cannotCreate(table, e.MessageText), e);
        }
        await tx.CommitAsync(ct);
    }
}
