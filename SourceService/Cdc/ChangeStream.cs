using KafkaPipeline.Shared;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// Turns the slot's pgoutput messages into change events, transaction by transaction: each insert, update and delete
/// goes to the publisher the moment it is decoded, under its transaction's commit LSN and time (known from BEGIN); a
/// COMMIT or a non-transactional logical message (the heartbeat) marks how far the log may be confirmed once Kafka
/// acknowledged everything before it.
/// </summary>
public sealed class ChangeStream(RowDecoder decoder, ChangePublisher publisher, FlushTracker tracker)
{
    private FlushTracker.Transaction? _tx;
    private ulong _commitLsn;
    private DateTime _commitTime;
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
                _index = 0;
                break;
            case InsertMessage insert:
            {
                var row = await decoder.ReadRowAsync(insert.Relation, insert.NewRow, ct);
                Publish(row.User.Id, ChangeOp.Create, row, insert.WalStart);
                break;
            }
            case UpdateMessage update:
            {
                // The old key comes only when the key changed (or with REPLICA IDENTITY FULL): then the old id is gone.
                long? oldId = update switch
                {
                    IndexUpdateMessage keyChanged => await RowDecoder.ReadIdAsync(update.Relation, keyChanged.Key, ct),
                    FullUpdateMessage full => await RowDecoder.ReadIdAsync(update.Relation, full.OldRow, ct),
                    _ => null,
                };
                var row = await decoder.ReadRowAsync(update.Relation, update.NewRow, ct);
                if (oldId is { } old && old != row.User.Id) Publish(old, ChangeOp.Delete, null, update.WalStart);
                Publish(row.User.Id, ChangeOp.Update, row, update.WalStart);
                break;
            }
            case KeyDeleteMessage delete:
                Publish(await RowDecoder.ReadIdAsync(delete.Relation, delete.Key, ct), ChangeOp.Delete, null, delete.WalStart);
                break;
            case FullDeleteMessage delete:
                Publish(await RowDecoder.ReadIdAsync(delete.Relation, delete.OldRow, ct), ChangeOp.Delete, null, delete.WalStart);
                break;
            case CommitMessage commit:
                if (_tx is not null) tracker.Close(_tx, (ulong)commit.TransactionEndLsn);
                _tx = null;
                break;
            case LogicalDecodingMessage { Flags: 0 } marker when _tx is null:
                // Non-transactional (ours or anyone's): every transaction that committed before it has been sent.
                tracker.Mark((ulong)marker.MessageLsn);
                break;
        }
    }

    private void Publish(long id, string op, DecodedRow? row, NpgsqlLogSequenceNumber changeLsn)
    {
        var value = row is null ? null : UserRecordJson.Serialize(row.User);
        publisher.Publish(new ChangeEvent(id, op, value, row?.TraceParent, new SourceVersion(_commitLsn, (ulong)changeLsn), _index++, _commitTime),
            _tx ?? throw new InvalidOperationException("a change arrived outside a transaction"));
    }
}
