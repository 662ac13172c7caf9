using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Contract;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// Turns the slot's pgoutput messages into change events, transaction by transaction: a relation message sets the
/// table's schema for what follows; each insert, update and delete goes to the publisher the moment it is decoded, under
/// its transaction's commit LSN, time and id (known from BEGIN); a COMMIT or a non-transactional logical message (the
/// heartbeat) marks how far the log may be confirmed once Kafka acknowledged everything before it.
/// </summary>
public sealed class ChangeStream(RowDecoder decoder, ChangePublisher publisher, FlushTracker tracker, IncrementalSnapshots? snapshots = null)
    : IDisposable
{
    private readonly ChangeEventWriter _writer = new();
    private FlushTracker.Transaction? _tx;
    private ulong _commitLsn;
    private DateTime _commitTime;
    private long _txId;
    private long _index;

    public async ValueTask HandleAsync(PgOutputReplicationMessage message, CancellationToken ct)
    {
        if (tracker.Failure is { } failure) throw new InvalidOperationException($"Kafka did not accept an event: {failure.Message}", failure);
        switch (message)
        {
            case BeginMessage begin:
                _tx = tracker.Begin();
                _commitLsn = (ulong)begin.TransactionFinalLsn;
                _commitTime = begin.TransactionCommitTimestamp;
                _txId = begin.TransactionXid;
                _index = 0;
                break;
            case RelationMessage relation:
                await decoder.OnRelationAsync(relation, ct);
                break;
            case InsertMessage insert when decoder.TableOf(insert.Relation) is { } table:
                Publish(ChangeOp.Create, await decoder.ReadRowAsync(table, insert.NewRow, ct), insert.WalStart);
                break;
            case UpdateMessage update when decoder.TableOf(update.Relation) is { } table:
            {
                // The old row comes only when the key changed (its key columns) or under REPLICA IDENTITY FULL (all of it).
                var old = update switch
                {
                    IndexUpdateMessage keyChanged => await decoder.ReadRowAsync(table, keyChanged.Key, ct),
                    FullUpdateMessage full => await decoder.ReadRowAsync(table, full.OldRow, ct),
                    _ => null,
                };
                var row = await decoder.ReadRowAsync(table, update.NewRow, ct, old);
                if (old is not null && Key(old) is { } oldKey && !oldKey.AsSpan().SequenceEqual(Key(row))) Delete(table, oldKey, update.WalStart);
                Publish(ChangeOp.Update, row, update.WalStart);
                break;
            }
            case KeyDeleteMessage delete when decoder.TableOf(delete.Relation) is { } table:
                Delete(table, Key(await decoder.ReadRowAsync(table, delete.Key, ct)), delete.WalStart);
                break;
            case FullDeleteMessage delete when decoder.TableOf(delete.Relation) is { } table:
                Delete(table, Key(await decoder.ReadRowAsync(table, delete.OldRow, ct)), delete.WalStart);
                break;
            case CommitMessage commit:
                if (_tx is not null) tracker.Close(_tx, (ulong)commit.TransactionEndLsn);
                _tx = null;
                break;
            case LogicalDecodingMessage { Flags: 0 } marker when _tx is null:
                // Non-transactional (ours or anyone's): every transaction that committed before it has been sent.
                if (snapshots is not null && marker.Prefix.StartsWith(IncrementalSnapshots.Prefix, StringComparison.Ordinal))
                {
                    var content = System.Text.Encoding.UTF8.GetString(await ReadAllAsync(marker.Data, ct));
                    snapshots.OnWatermark(marker.Prefix, content, (ulong)marker.MessageLsn, DateTime.UtcNow);
                }
                tracker.Mark((ulong)marker.MessageLsn);
                break;
        }
    }

    private static byte[] Key(DecodedRow row) => EventKeys.Key(row.Table.Schema, row.Values)
        ?? throw new InvalidOperationException($"a change of {row.Table.Table} has no key: the table needs a primary key or a replica identity index");

    private static async Task<byte[]> ReadAllAsync(Stream data, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        await data.CopyToAsync(buffer, ct);
        return buffer.ToArray();
    }

    private void Publish(string op, DecodedRow row, NpgsqlLogSequenceNumber changeLsn)
    {
        var schema = row.Table.Schema;
        var key = Key(row);
        snapshots?.OnChange(row.Table.Table, key);
        publisher.Publish(new ChangeEvent(row.Table.Topic, key, op, _writer.Value(schema, row.Values, row.Unchanged), row.TraceParent,
                new SourceVersion(_commitLsn, (ulong)changeLsn), _index++, _commitTime, row.Table.Table, _txId, row.UnchangedColumns),
            _tx ?? throw new InvalidOperationException("a change arrived outside a transaction"));
    }

    private void Delete(CapturedTable table, byte[] key, NpgsqlLogSequenceNumber changeLsn)
    {
        snapshots?.OnChange(table.Table, key);
        publisher.Publish(new ChangeEvent(table.Topic, key, ChangeOp.Delete, null, null, new SourceVersion(_commitLsn, (ulong)changeLsn), _index++,
                _commitTime, table.Table, _txId),
            _tx ?? throw new InvalidOperationException("a change arrived outside a transaction"));
    }

    public void Dispose() => _writer.Dispose();
}
