using Npgsql;

namespace KafkaPipeline.Shared;

/// <summary>
/// Serialises the services' schema steps on one object (a transaction-scoped advisory lock): IF NOT EXISTS alone races
/// on the catalog when several services start together.
/// </summary>
public static class SchemaLock
{
    public static async Task TakeAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string name, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext('kafkapipeline.schema.' || @t))", conn, tx);
        cmd.Parameters.AddWithValue("t", name);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
