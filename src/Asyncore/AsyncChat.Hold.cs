using Asyncore.Output;
using Asyncore.Reactor;

namespace Asyncore;

/// <content>
/// Holding input until an answer is sent: a protocol that answers pipelined requests one at a time
/// (nginx's way with HTTP/1.1) frames the next request only once the answer before it left the
/// queue, so every answer is made knowing what happened meanwhile (a drain that began, for one).
/// </content>
public abstract partial class AsyncChat
{
    private bool _frameHeldPending; // a pass-end step frames the bytes kept by a hold that ended
    private Action? _frameHeldPosted;

    /// <summary>
    /// Whether framing is held by <see cref="HoldInputUntilSent"/>: no <see cref="CollectIncomingData"/>
    /// or <see cref="FoundTerminator"/> is called until everything queued before the hold is sent.
    /// </summary>
    public bool InputHeld => _framer.Held;

    /// <summary>
    /// Whether input was received and not framed yet: bytes after the message being framed in the
    /// same read, bytes kept by <see cref="HoldInputUntilSent"/>, or bytes the socket, the TLS layer or
    /// the transport holds. Inside <see cref="FoundTerminator"/> it tells whether another request was
    /// pipelined behind the one that just ended.
    /// </summary>
    public bool UnframedInput => _framer.Buffered > 0 || InputWaiting();

    /// <summary>
    /// Holds framing until everything queued now (answers, producers) has gone to the transport: the
    /// callback running now returns as usual, the bytes received after it stay unread, in order, and
    /// the channel stops reading the socket while it keeps any; when the queue reaches this point,
    /// framing goes on over them (at the end of the loop's pass) and reading resumes. With nothing
    /// queued it does nothing. HTTP servers answer pipelined requests this way (nginx reads the next
    /// request once the answer before it is sent), so an answer's <c>Connection</c> header is decided
    /// when it is made, not several answers ahead; the price is one send per answer instead of one
    /// per batch.
    /// </summary>
    /// <remarks>
    /// No asynchat counterpart (CPython frames everything it read before sending); Twisted's
    /// <c>LineReceiver.pauseProducing</c>/<c>resumeProducing</c> keeps its unparsed buffer the same way.
    /// Loop thread only. <see cref="DiscardBuffers"/> and <see cref="Close"/> end a hold.
    /// </remarks>
    public void HoldInputUntilSent()
    {
        if (IsClosed || _fifo.Count == 0)
        {
            return;
        }

        _framer.Hold();
        _fifo.Enqueue(new ProducerFifo.Entry { IsResume = true });
        InterestChanged();
    }

    /// <summary>The queue reached the hold's marker: reading resumes, and the kept bytes are framed at the end of this pass.</summary>
    private void ResumeHeldInput()
    {
        if (!_framer.Held)
        {
            return;
        }

        _framer.Resume();
        InterestChanged();
        if (_framer.Buffered == 0 || Fileno < 0)
        {
            return;
        }

        if (Registration is not { } row)
        {
            FrameHeldInput();
        }
        else if (row.Reactor.InPass || row.Reactor.InPassEnd)
        {
            // Not from inside the send that reached the marker: the pass-end step frames them.
            if (!_frameHeldPending)
            {
                _frameHeldPending = true;
                row.Reactor.AtPassEnd(this);
            }
        }
        else
        {
            // Reached outside the loop's pass (a send called by the application): the loop does it.
            Map.Post(_frameHeldPosted ??= FrameHeldInput);
        }
    }

    /// <summary>Frames the bytes a hold kept, as the read that brought them would have; a callback may hold again.</summary>
    private void FrameHeldInput()
    {
        if (Fileno < 0 || _framer.Held || _state != ChatState.Open || _framer.Buffered == 0)
        {
            return;
        }

        try
        {
            Frame();
        }
        catch (ExitNowException)
        {
            throw;
        }
        catch (Exception e)
        {
            EventDispatch.Fail(this, e); // the read path's rule: the channel's HandleError
        }

        ReleaseReadBuffer();
    }

    /// <summary>A hold ends with the queue (closed, discarded, a new socket).</summary>
    private void EndHold()
    {
        _framer.Resume();
        _frameHeldPending = false;
    }
}
