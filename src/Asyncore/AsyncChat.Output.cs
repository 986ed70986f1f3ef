using System.Net.Sockets;
using Asyncore.Output;

namespace Asyncore;

public abstract partial class AsyncChat
{
    private readonly ProducerFifo _fifo = new();

    /// <summary>Bytes queued as data and not yet sent (producers not yet pulled are not counted).</summary>
    public long OutgoingBytes => _fifo.QueuedBytes;

    /// <summary>
    /// Queues a copy of <paramref name="data"/> and starts sending. Data longer than
    /// <see cref="AcOutBufferSize"/> is queued in pieces of that size.
    /// </summary>
    /// <param name="data">The bytes.</param>
    /// <remarks>Python: async_chat.push(data)</remarks>
    public void Push(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        if (_fifo.Count == 0 && Connected && !Batching)
        {
            // What CPython's push would send at once: the first piece, straight from the caller's
            // bytes; only what the socket does not take is copied.
            int first = Math.Min(data.Length, _outBufferSize);
            int sent = SendGuarded(data[..first]);
            if (sent < 0)
            {
                return;
            }

            if (sent > 0 && sent < first)
            {
                EnqueueData(_fifo.Stage(data[sent..first]));
                data = data[first..];
            }
            else if (sent == first)
            {
                data = data[first..];
            }

            EnqueueStaged(data);
            AfterOutputChange();
            return;
        }

        EnqueueStaged(data);
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

    /// <summary>
    /// Queues <paramref name="data"/> without copying it and starts sending: the memory must not
    /// change until it is sent. Data longer than <see cref="AcOutBufferSize"/> is queued in pieces.
    /// </summary>
    /// <param name="data">The bytes.</param>
    /// <remarks>Python: async_chat.push(memoryview)</remarks>
    public void Push(ReadOnlyMemory<byte> data)
    {
        int obs = _outBufferSize;
        for (int i = 0; i < data.Length; i += obs)
        {
            EnqueueData(data.Slice(i, Math.Min(obs, data.Length - i)));
        }

        SendNowOrAtEndOfPass();
    }

    /// <summary>Queues a producer; its <see cref="IProducer.More"/> is called when everything queued before it has been sent.</summary>
    /// <param name="producer">The producer.</param>
    /// <remarks>Python: async_chat.push_with_producer(producer)</remarks>
    public void PushWithProducer(IProducer producer)
    {
        ArgumentNullException.ThrowIfNull(producer);
        _fifo.Enqueue(new ProducerFifo.Entry { Producer = producer });
        MarkInterestDirty();
        SendNowOrAtEndOfPass();
    }

    /// <summary>Closes the channel once everything queued before this call has been sent.</summary>
    /// <remarks>Python: async_chat.close_when_done() (pushes None on the producer queue)</remarks>
    public void CloseWhenDone()
    {
        _fifo.Enqueue(new ProducerFifo.Entry { IsClose = true });
        MarkInterestDirty();
    }

    /// <summary>
    /// Sends once from the head of the queue: at most <see cref="AcOutBufferSize"/> bytes. Exhausted
    /// producers are dropped, a producer's next block goes to the front of the queue, and the close
    /// marker closes the channel.
    /// </summary>
    /// <remarks>Python: async_chat.initiate_send()</remarks>
    public void InitiateSend()
    {
        while (_fifo.Count > 0 && Connected)
        {
            ref ProducerFifo.Entry first = ref _fifo.First;
            if (first.IsClose)
            {
                _fifo.DequeueFront();
                if (!BeginLingeringClose())
                {
                    NotifyClose();
                }

                return;
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
                    _fifo.EnqueueFront(new ProducerFifo.Entry { Data = more });
                }

                continue;
            }

            if (first.Data.IsEmpty)
            {
                _fifo.DequeueFront();
                continue;
            }

            ReadOnlyMemory<byte> data = first.Data;
            int length = Math.Min(data.Length, _outBufferSize);
            int sent = SendGuarded(data.Span[..length]);
            _sentWholeBlock = sent == length;
            if (sent > 0 && _fifo.Count > 0)
            {
                _fifo.ConsumeFront(sent);
            }

            // One send per call, as CPython does.
            break;
        }

        AfterOutputChange();
    }

    /// <summary>Inside a loop pass the channel's map batches output: the send happens once, at the end of the pass.</summary>
    private bool Batching => RegisteredMap is { InPass: true } && Connected;

    private bool _flushPending;

    /// <summary>CPython sends at once; inside a pass the send waits for the pass's end, the same bytes in the same order.</summary>
    private void SendNowOrAtEndOfPass()
    {
        if (Batching)
        {
            if (!_flushPending)
            {
                _flushPending = true;
                RegisteredMap!.AddFlush(this);
            }

            return;
        }

        InitiateSend();
    }

    /// <summary>
    /// The end-of-pass send: the data entries at the head of the queue that sit next to each other in
    /// memory (replies pushed as spans are copied side by side) go out in one send.
    /// </summary>
    internal void FlushBatched()
    {
        _flushPending = false;
        if (Fileno < 0 || !Connected)
        {
            return;
        }

        try
        {
            while (_fifo.Count > 0 && Fileno >= 0)
            {
                ref ProducerFifo.Entry first = ref _fifo.First;
                if (first.IsClose || first.Producer is not null || first.Data.IsEmpty)
                {
                    InitiateSend(); // producers, the close marker: CPython's one step
                    if (_fifo.Count > 0 && _fifo.First.Data.IsEmpty && _fifo.First.Producer is null && !_fifo.First.IsClose)
                    {
                        continue;
                    }

                    break;
                }

                ReadOnlySpan<byte> run = _fifo.ContiguousHead(MaxBatch);
                int sent = SendGuarded(run);
                if (sent <= 0)
                {
                    break;
                }

                _fifo.Consume(sent);
                AfterOutputChange();
                if (sent < run.Length)
                {
                    break; // the socket is full: the rest goes when it turns writable
                }
            }
        }
        catch (ExitNowException)
        {
            throw;
        }
        catch (Exception e)
        {
            Reactor.EventDispatch.Fail(this, e);
        }
    }

    private const int MaxBatch = 256 * 1024;

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

    private void EnqueueData(ReadOnlyMemory<byte> data)
    {
        _fifo.Enqueue(new ProducerFifo.Entry { Data = data });
        AfterOutputChange();
    }

    /// <summary>Copies <paramref name="data"/> into the staging buffer once and queues it in pieces of AcOutBufferSize.</summary>
    private void EnqueueStaged(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        ReadOnlyMemory<byte> copy = _fifo.Stage(data);
        int obs = _outBufferSize;
        for (int i = 0; i < copy.Length; i += obs)
        {
            EnqueueData(copy.Slice(i, Math.Min(obs, copy.Length - i)));
        }
    }
}
