using KafkaPipeline.Shared;
using Npgsql;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>A users row read from a pgoutput message, with the trace context its writer stored.</summary>
public sealed record DecodedRow(UserRecord User, string? TraceParent);

/// <summary>
/// Reads pgoutput tuples (binary values) into users rows, by column name as the relation message lists them, so a
/// column added to the table does not shift anything.
/// </summary>
public sealed class RowDecoder(NpgsqlDataSource db, SourceOptions options, ILogger logger)
{
    private readonly string _select = $"SELECT {string.Join(", ", UsersSchema.Columns)}, trace_parent FROM {SqlIdentifier.QuotePostgres(options.Table)} WHERE id = @id";

    /// <summary>Reads a whole row (insert, or the new row of an update).</summary>
    public async Task<DecodedRow> ReadRowAsync(RelationMessage relation, ReplicationTuple tuple, CancellationToken ct)
    {
        var row = new Builder();
        List<string>? unchanged = null;
        var i = 0;
        await foreach (var value in tuple.WithCancellation(ct))
        {
            var column = relation.Columns[i++].ColumnName;
            if (value.IsUnchangedToastedValue) (unchanged ??= []).Add(column);
            else if (!value.IsDBNull) await row.SetAsync(column, value, ct);
        }
        if (unchanged is not null) await FillUnchangedAsync(row, unchanged, ct);
        return new DecodedRow(row.Build(), row.TraceParent);
    }

    /// <summary>Reads the id from a key or old-row tuple (deletes; REPLICA IDENTITY DEFAULT sends the key only).</summary>
    public static async Task<long> ReadIdAsync(RelationMessage relation, ReplicationTuple tuple, CancellationToken ct)
    {
        long? id = null;
        var i = 0;
        await foreach (var value in tuple.WithCancellation(ct))
        {
            if (relation.Columns[i++].ColumnName == "id" && !value.IsDBNull) id = await value.Get<long>(ct);
        }
        return id ?? throw new InvalidOperationException($"a change of {relation.RelationName} carries no id: is its replica identity NOTHING?");
    }

    /// <summary>
    /// An update that leaves a large (TOASTed) value unchanged does not carry it. The value is then read from the
    /// table as it is now; REPLICA IDENTITY FULL would carry it in the old row instead. Values of this table are short,
    /// so this is rare (values above about 2 kB).
    /// </summary>
    private async Task FillUnchangedAsync(Builder row, List<string> columns, CancellationToken ct)
    {
        logger.LogWarning("Update of id {Id} does not carry the unchanged large value(s) of {Columns}: reading them from the table",
            row.Id, string.Join(", ", columns));
        await using var cmd = db.CreateCommand(_select);
        cmd.Parameters.AddWithValue("id", row.Id);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct)) return; // deleted meanwhile: its delete follows in the stream
        foreach (var column in columns)
        {
            var ordinal = reader.GetOrdinal(column);
            if (!reader.IsDBNull(ordinal)) row.Set(column, reader.GetValue(ordinal));
        }
    }

    private sealed class Builder
    {
        public long Id;
        private string _name = "", _username = "", _sex = "", _address = "", _mail = "", _job = "", _company = "", _ssn = "", _residence = "";
        private DateOnly _birthdate;
        private DateTime _createdAt, _updatedAt;
        public string? TraceParent;

        public async ValueTask SetAsync(string column, ReplicationValue value, CancellationToken ct)
        {
            switch (column)
            {
                case "id": Id = await value.Get<long>(ct); break;
                case "birthdate": _birthdate = await value.Get<DateOnly>(ct); break;
                case "created_at": _createdAt = await value.Get<DateTime>(ct); break;
                case "updated_at": _updatedAt = await value.Get<DateTime>(ct); break;
                case "name" or "username" or "sex" or "address" or "mail" or "job" or "company" or "ssn" or "residence" or "trace_parent":
                    Set(column, await value.Get<string>(ct));
                    break;
                default: break; // a column the record does not carry
            }
        }

        public void Set(string column, object value)
        {
            switch (column)
            {
                case "id": Id = (long)value; break;
                case "name": _name = (string)value; break;
                case "username": _username = (string)value; break;
                case "sex": _sex = (string)value; break;
                case "address": _address = (string)value; break;
                case "mail": _mail = (string)value; break;
                case "birthdate": _birthdate = value is DateOnly d ? d : DateOnly.FromDateTime((DateTime)value); break;
                case "job": _job = (string)value; break;
                case "company": _company = (string)value; break;
                case "ssn": _ssn = (string)value; break;
                case "residence": _residence = (string)value; break;
                case "created_at": _createdAt = (DateTime)value; break;
                case "updated_at": _updatedAt = (DateTime)value; break;
                case "trace_parent": TraceParent = (string)value; break;
                default: break;
            }
        }

        public UserRecord Build() => new()
        {
            Id = Id,
            Name = _name,
            Username = _username,
            Sex = _sex,
            Address = _address,
            Mail = _mail,
            Birthdate = _birthdate,
            Job = _job,
            Company = _company,
            Ssn = _ssn,
            Residence = _residence,
            CreatedAt = _createdAt,
            UpdatedAt = _updatedAt,
        };
    }
}
