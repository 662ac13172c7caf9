namespace KafkaPipeline.SourceService.Cdc;

/// <summary>
/// How far PostgreSQL may forget the log: the end LSN of the newest transaction that Kafka acknowledged completely,
/// with every transaction before it. Transactions are opened in log order; each counts its events in flight; acks
/// arrive on the producer's thread in any order across partitions.
/// </summary>
public sealed class FlushTracker(Action<ulong> onConfirmed)
{
    public sealed class Transaction
    {
        internal int Pending;
        internal bool Closed;
        internal bool Failed;
        internal ulong EndLsn;
    }

    private readonly Queue<Transaction> _open = new();
    private readonly Lock _lock = new();
    private ulong _confirmed;
    private Exception? _failure;

    /// <summary>Everything up to this LSN is in Kafka.</summary>
    public ulong Confirmed
    {
        get { lock (_lock) return _confirmed; }
    }

    /// <summary>
    /// The first delivery error (the idempotent producer never gives up on a retriable one: this is a refusal, e.g. a
    /// message too large, or not authorised). Its transaction and every later one stay unconfirmed: PostgreSQL sends
    /// them again to the next session.
    /// </summary>
    public Exception? Failure
    {
        get { lock (_lock) return _failure; }
    }

    public int OpenTransactions
    {
        get { lock (_lock) return _open.Count; }
    }

    public Transaction Begin()
    {
        var tx = new Transaction();
        lock (_lock) _open.Enqueue(tx);
        return tx;
    }

    /// <summary>An event of <paramref name="tx"/> was handed to the producer.</summary>
    public void Sent(Transaction tx)
    {
        lock (_lock) tx.Pending++;
    }

    /// <summary>Kafka acknowledged (or refused) an event of <paramref name="tx"/>.</summary>
    public void Delivered(Transaction tx, Exception? error)
    {
        lock (_lock)
        {
            tx.Pending--;
            if (error is not null)
            {
                tx.Failed = true;
                _failure ??= error;
            }
        }
        Advance();
    }

    /// <summary>All events of <paramref name="tx"/> were sent; once acknowledged, the log up to <paramref name="endLsn"/> may go.</summary>
    public void Close(Transaction tx, ulong endLsn)
    {
        lock (_lock)
        {
            tx.EndLsn = endLsn;
            tx.Closed = true;
        }
        Advance();
    }

    /// <summary>A point in the log with no events of ours (a heartbeat): confirmable once everything before it is.</summary>
    public void Mark(ulong lsn) => Close(Begin(), lsn);

    /// <summary>Waits until everything up to <paramref name="lsn"/> is acknowledged (or a delivery failed).</summary>
    public async Task WaitForAsync(ulong lsn, CancellationToken ct)
    {
        while (Confirmed < lsn)
        {
            if (Failure is { } failure) throw new InvalidOperationException($"Kafka did not accept an event: {failure.Message}", failure);
            await Task.Delay(10, ct);
        }
    }

    private void Advance()
    {
        // Under the lock, so the callback never sees the position go backwards.
        lock (_lock)
        {
            var before = _confirmed;
            while (_open.TryPeek(out var head) && head.Closed && head.Pending == 0 && !head.Failed)
            {
                _open.Dequeue();
                if (head.EndLsn > _confirmed) _confirmed = head.EndLsn;
            }
            if (_confirmed != before) onConfirmed(_confirmed);
        }
    }
}
