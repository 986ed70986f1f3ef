using System.Text;
using System.Net.Sockets;
using Asyncore.Output;
using Asyncore.Reactor;

namespace Asyncore;

public abstract partial class AsyncChat : IPassEndHook
{
    /// <summary>The most bytes one end-of-pass send takes from the queue.</summary>
    private const int MaxBatch = 256 * 1024;

    /// <summary>The most sends one <see cref="HandleWrite"/> or end-of-pass flush makes, so one channel cannot hold the loop.</summary>
    private const int MaxSendsPerEvent = 64;

    /// <summary>The most bytes a gathered send carries: small blocks copied into the queue's carry (see <see cref="GatheredHead"/>).</summary>
    internal const int GatherLimit = 64 * 1024;

    /// <summary>Blocks this large or larger are sent from their own memory, never copied into the carry.</summary>
    internal const int CopyBelow = 16 * 1024;

    [ThreadStatic]
    private static byte[]? t_scratch;

    private readonly ProducerFifo _fifo = new();
    private bool _flushPending;
    private bool _sentWholeBlock;

    /// <summary>
    /// After <see cref="Close"/> the channel queues nothing: <c>Push</c>, <c>PushWithProducer</c> and
    /// <c>CloseWhenDone</c> drop what they are given, in constant memory (Twisted drops writes to a
    /// closed transport the same way). CPython appends to a queue that nothing will ever send.
    /// </summary>
    private bool IsClosed => _state == ChatState.Closed;

    /// <summary>Bytes queued as data and not yet sent, the unsent bytes of queued <see cref="FileRegion"/>s included (producers not yet pulled are not counted).</summary>
    public long OutgoingBytes => _fifo.QueuedBytes + _fifo.RegionBytes;

    /// <summary>
    /// What the queued output costs in memory: the bytes queued as data plus a fixed overhead per queued
    /// entry (a <see cref="FileRegion"/>'s bytes stay in the file and are not counted). The output
    /// limits compare against this; the water marks add the regions' unsent bytes.
    /// </summary>
    public long OutgoingCost => _fifo.QueuedCost;

    /// <summary>
    /// Queues a copy of <paramref name="data"/> and starts sending. Data longer than
    /// <see cref="AcOutBufferSize"/> is queued in pieces of that size.
    /// </summary>
    /// <param name="data">The bytes.</param>
    /// <remarks>Python: async_chat.push(data). Virtual, as a Python subclass may override push (smtpd's does); the byte[] and string overloads come here.</remarks>
    public virtual void Push(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty || IsClosed)
        {
            return;
        }

        if (_fifo.Count == 0 && Connected && !Batching)
        {
            // What CPython's push would send at once: the first piece, straight from the caller's
            // bytes; only what the socket does not take is copied.
            int first = Math.Min(data.Length, _outBufferSize);
            int closes = CloseCount;
            int sent = SendGuarded(data[..first]);
            if (sent < 0)
            {
                // CPython queued the data before sending, so after a failed send that HandleError
                // did not close on, all of it is still queued
                // (CPythonBehaviourTests.PushKeepsItsDataWhenTheFirstSendFailsAndHandleErrorDoesNotClose).
                sent = 0;
                if (CloseCount != closes)
                {
                    return;
                }
            }

            if (sent > 0 && sent < first)
            {
                _fifo.EnqueueCopy(data[sent..first], _outBufferSize);
            }

            _fifo.EnqueueCopy(sent > 0 ? data[first..] : data, _outBufferSize);
            AfterOutputChange();
            return;
        }

        _fifo.EnqueueCopy(data, _outBufferSize);
        AfterOutputChange();
        SendNowOrAtEndOfPass();
    }

    /// <summary>Queues a copy of <paramref name="data"/> and starts sending.</summary>
    /// <param name="data">The bytes.</param>
    /// <remarks>Python: async_chat.push(data)</remarks>
    public void Push(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        Push(new ReadOnlySpan<byte>(data));
    }

    /// <summary>Queues <paramref name="data"/> encoded with <see cref="Encoding"/> (Latin-1 unless set) and starts sending.</summary>
    /// <param name="data">The text.</param>
    /// <remarks>Python: async_chat.push(data.encode(...)); smtpd's push(msg) is this overload, overridden to add its line end.</remarks>
    public virtual void Push(string data)
    {
        ArgumentNullException.ThrowIfNull(data);
        Encoding encoding = Encoding;
        int max = encoding.GetMaxByteCount(data.Length);
        if (max <= 1024)
        {
            Span<byte> small = stackalloc byte[max];
            Push((ReadOnlySpan<byte>)small[..encoding.GetBytes(data, small)]);
        }
        else
        {
            Push((ReadOnlySpan<byte>)encoding.GetBytes(data));
        }
    }

    /// <summary>
    /// Queues <paramref name="data"/> without copying it and starts sending: the memory must not
    /// change until it is sent. Data longer than <see cref="AcOutBufferSize"/> is queued in pieces.
    /// </summary>
    /// <param name="data">The bytes.</param>
    /// <remarks>Python: async_chat.push(memoryview)</remarks>
    public void Push(ReadOnlyMemory<byte> data)
    {
        if (IsClosed)
        {
            return;
        }

        int obs = _outBufferSize;
        for (int i = 0; i < data.Length; i += obs)
        {
            _fifo.Enqueue(new ProducerFifo.Entry { Data = data.Slice(i, Math.Min(obs, data.Length - i)) });
        }

        AfterOutputChange();
        SendNowOrAtEndOfPass();
    }

    /// <summary>
    /// Queues a producer; its <see cref="IProducer.More"/> is called when everything queued before it
    /// has been sent. A <see cref="FileRegion"/> is sent by the transport without a copy where it can
    /// (see there).
    /// </summary>
    /// <param name="producer">The producer.</param>
    /// <exception cref="InvalidOperationException">The producer is a <see cref="FileRegion"/> already queued.</exception>
    /// <remarks>Python: async_chat.push_with_producer(producer)</remarks>
    public void PushWithProducer(IProducer producer)
    {
        ArgumentNullException.ThrowIfNull(producer);
        if (producer is FileRegion region)
        {
            QueueRegion(region);
            return;
        }

        if (IsClosed)
        {
            return;
        }

        _fifo.Enqueue(new ProducerFifo.Entry { Producer = producer });
        AfterOutputChange();
        SendNowOrAtEndOfPass();
    }

    /// <summary>Closes the channel once everything queued before this call has been sent.</summary>
    /// <remarks>Python: async_chat.close_when_done() (pushes None on the producer queue)</remarks>
    public void CloseWhenDone()
    {
        if (IsClosed)
        {
            return;
        }

        _fifo.Enqueue(new ProducerFifo.Entry { IsClose = true });
        InterestChanged();
    }

    /// <summary>
    /// Sends once from the head of the queue: at most <see cref="AcOutBufferSize"/> bytes. Exhausted
    /// producers are dropped, a producer's next block goes to the front of the queue, and the close
    /// marker closes the channel.
    /// </summary>
    /// <remarks>Python: async_chat.initiate_send()</remarks>
    public void InitiateSend()
    {
        if (BytesAtHead())
        {
            if (_fifo.First.Producer is FileRegion region)
            {
                _sentWholeBlock = SendRegionAtHead(region);
                AfterOutputChange();
                return;
            }

            ReadOnlySpan<byte> data = _fifo.HeadBytes(_outBufferSize, Scratch(_outBufferSize));
            int sent = SendGuarded(data);
            _sentWholeBlock = sent == data.Length;
            if (sent > 0)
            {
                _fifo.Consume(sent); // one send per call, as CPython does
            }
        }

        AfterOutputChange();
    }

    /// <summary>
    /// Sends queued data: <see cref="InitiateSend"/>, repeated while the socket takes whole blocks
    /// (at most 64 times). CPython sends once per writable event; the peer sees the same bytes, but a
    /// producer of 4 KiB blocks no longer costs a poll per block.
    /// </summary>
    /// <remarks>Python: async_chat.handle_write()</remarks>
    protected override void HandleWrite()
    {
        if (Gathers)
        {
            SendQueued();
            return;
        }

        for (int i = 0; i < MaxSendsPerEvent; i++)
        {
            _sentWholeBlock = false;
            InitiateSend();
            if (!_sentWholeBlock || _fifo.Count == 0 || Fileno < 0)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Brings a byte entry to the head of the queue, as initiate_send's loop does: the close marker
    /// closes (or starts a lingering close), a producer's next block goes in front of it, an exhausted
    /// producer or an empty entry is dropped.
    /// </summary>
    /// <returns>Whether a byte entry (or a file region with bytes to send) is at the head, ready to send.</returns>
    private bool BytesAtHead()
    {
        while (_fifo.Count > 0 && Connected)
        {
            ref ProducerFifo.Entry first = ref _fifo.First;
            if (first.IsResume)
            {
                _fifo.DequeueFront();
                ResumeHeldInput(); // everything queued before the hold went to the transport
                continue;
            }

            if (first.IsClose)
            {
                if (TlsOutputPending || TransportSendPending())
                {
                    return false; // the last records (or the ring's send) first; the write event after them closes
                }

                _fifo.DequeueFront();
                if (!BeginLingeringClose())
                {
                    NotifyClose();
                }

                return false;
            }

            if (first.Producer is FileRegion region)
            {
                if (region.Remaining > 0 && !region.IsCompleted)
                {
                    return true; // sent by SendRegionAtHead
                }

                _fifo.DequeueFront();
                region.End();
                continue;
            }

            if (first.Producer is { } producer)
            {
                ReadOnlyMemory<byte> more = producer.More();
                if (more.IsEmpty)
                {
                    _fifo.DequeueFront();
                }
                else
                {
                    _fifo.EnqueueFront(more);
                }

                continue;
            }

            if (first.Length == 0)
            {
                _fifo.DequeueFront();
                continue;
            }

            return true;
        }

        return false;
    }

    /// <summary>Inside a loop pass the channel's loop batches output: the send happens once, at the end of the pass.</summary>
    private bool Batching => Registration is { Reactor.InPass: true } && Connected;

    /// <summary>CPython sends at once; inside a pass the send waits for the pass's end, the same bytes in the same order.</summary>
    private void SendNowOrAtEndOfPass()
    {
        if (Batching)
        {
            if (!_flushPending)
            {
                _flushPending = true;
                Registration!.Reactor.AtPassEnd(this);
            }

            return;
        }

        InitiateSend();
    }

    void IPassEndHook.AtPassEnd()
    {
        if (_frameHeldPending)
        {
            _frameHeldPending = false;
            FrameHeldInput();
        }

        FlushBatched();
    }

    /// <summary>
    /// The end-of-pass send: the bytes at the head of the queue go out in as few sends as the queue's
    /// segments allow (replies pushed during the pass lie side by side in them), until the socket is
    /// full or the queue is empty.
    /// </summary>
    private void FlushBatched()
    {
        _flushPending = false;
        if (Fileno < 0 || !Connected)
        {
            return;
        }

        try
        {
            SendQueued();
        }
        catch (ExitNowException)
        {
            throw;
        }
        catch (Exception e)
        {
            EventDispatch.Fail(this, e);
        }
    }

    /// <summary>
    /// Sends from the head of the queue until the socket is full, the queue is empty or 64 sends were
    /// made: the staged replies side by side in one send, and, where the channel gathers, small blocks
    /// (a producer's, pieces of small pushes) copied together into sends of up to 64 KiB.
    /// </summary>
    private void SendQueued()
    {
        bool gather = Gathers;
        for (int i = 0; i < MaxSendsPerEvent && BytesAtHead(); i++)
        {
            if (_fifo.First.Producer is FileRegion region)
            {
                if (!SendRegionAtHead(region))
                {
                    break;
                }

                continue;
            }

            ReadOnlySpan<byte> run = gather ? GatheredHead() : _fifo.ContiguousHead(MaxBatch);
            int sent = SendGuarded(run);
            if (sent <= 0)
            {
                break;
            }

            _fifo.Consume(sent);
            if (sent < run.Length)
            {
                break; // the socket is full: the rest goes when it turns writable
            }
        }

        AfterOutputChange();
    }

    /// <summary>
    /// Whether the channel gives the kernel more than one <see cref="AcOutBufferSize"/> block per send:
    /// in the clear, through the library's own <see cref="Dispatcher.Send"/> (an override sees
    /// CPython's block sizes), unless the transport gathers them itself (the ring copies each send into
    /// its SEND buffer). The peer sees the same bytes in the same order.
    /// </summary>
    private bool Gathers => _ownsSend && !TlsStarted && !Transport.GathersSends(this);

    /// <summary>
    /// The bytes to send next, with a byte entry at the head. A head of staged bytes, or of memory
    /// that is already <see cref="CopyBelow"/> long (with the pieces of the same push behind it), goes
    /// out as it lies. Smaller blocks are copied into the queue's carry (a pooled 64 KiB array, given
    /// back when it is sent) together with the small byte entries behind them and the next blocks of a
    /// producer behind them: each block is copied before the producer is asked for the next, as a
    /// producer may hand out the same buffer again. Gathering stops at anything that is not bytes (a
    /// file region, the close marker, a hold's marker: what they wait for is sent first), at a block
    /// of <see cref="CopyBelow"/> or more (queued as it is, in front of its producer), and, with
    /// output limits set, before pulling a producer past them.
    /// </summary>
    private ReadOnlySpan<byte> GatheredHead()
    {
        ref ProducerFifo.Entry head = ref _fifo.First;
        if (head.Staged > 0)
        {
            return _fifo.ContiguousHead(MaxBatch);
        }

        if (!head.IsCarry)
        {
            ReadOnlySpan<byte> run = _fifo.MemoryRun(MaxBatch, out int entries);
            if (run.Length >= CopyBelow || _fifo.Count <= entries || entries != 1 || !GatherableBehindHead())
            {
                return run;
            }

            _fifo.StartCarry(run, GatherLimit);
        }

        while (_fifo.Count > 1)
        {
            ref ProducerFifo.Entry next = ref _fifo.Second;
            if (next.IsBytes)
            {
                if (next.Length >= CopyBelow || _fifo.CarryRoom(GatherLimit, next.Length) < next.Length)
                {
                    break;
                }

                _fifo.MergeSecond();
                continue;
            }

            if (next.Producer is not { } producer || producer is FileRegion
                || _fifo.CarryRoom(GatherLimit, _outBufferSize) < Math.Min(_outBufferSize, CopyBelow) || !MayPullAhead())
            {
                break;
            }

            ReadOnlyMemory<byte> more = producer.More();
            if (more.IsEmpty)
            {
                _fifo.RemoveSecond();
            }
            else if (more.Length < CopyBelow && more.Length <= _fifo.CarryRoom(GatherLimit, more.Length))
            {
                _fifo.AppendToCarry(more.Span);
            }
            else
            {
                _fifo.InsertAfterHead(more); // sent from the producer's memory, before it is asked again
                break;
            }
        }

        return _fifo.First.Data.Span;
    }

    /// <summary>
    /// Whether the entry behind the head could be gathered: small bytes, or a producer that is not a
    /// file region. (Behind a run of pieces of one push, the entry is looked at once it is the head's.)
    /// </summary>
    private bool GatherableBehindHead()
    {
        ref ProducerFifo.Entry next = ref _fifo.Second;
        return next.IsBytes ? next.Length < CopyBelow : next.Producer is { } p && p is not FileRegion && MayPullAhead();
    }

    /// <summary>Whether a producer may be asked for a block ahead of the send: always, unless output limits are set and one more block would pass one of them.</summary>
    private bool MayPullAhead()
    {
        if (!_outputLimits)
        {
            return true;
        }

        long cost = _fifo.QueuedCost + _outBufferSize;
        return (_outputHardLimit is not { } hard || cost <= hard)
            && (_outputSoftLimit is not { } soft || cost <= soft)
            && (_highWaterMark is not { } high || cost + _fifo.RegionBytes <= high);
    }

    /// <summary>Send, with CPython's initiate_send error rule: an OSError goes to HandleError.</summary>
    /// <returns>Bytes sent, or -1 after HandleError.</returns>
    private int SendGuarded(ReadOnlySpan<byte> data)
    {
        try
        {
            return Send(data);
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            AsyncoreMetrics.Failures.Add(1);
            HandleError(e);
            return -1;
        }
    }

    /// <summary>The output queue (tests).</summary>
    internal ProducerFifo OutputQueueForTests => _fifo;

    /// <summary>Drops every queued entry and the pending end-of-pass flush.</summary>
    internal override void DropQueuedOutput()
    {
        _fifo.Clear();
        _flushPending = false;
    }

    /// <summary>Room to gather one block that straddles two segments (the loop's thread owns it).</summary>
    private static Span<byte> Scratch(int size)
    {
        byte[]? s = t_scratch;
        if (s is null || s.Length < size)
        {
            t_scratch = s = new byte[Math.Max(size, AsyncChat.DefaultBufferSize)];
        }

        return s.AsSpan(0, size);
    }
}
