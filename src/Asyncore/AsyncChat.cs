using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Asyncore.Framing;
using Asyncore.Output;
using Asyncore.Reactor;

namespace Asyncore;

/// <summary>
/// A command/response channel: incoming bytes are split at a terminator (a byte string, a byte
/// count, or none) and handed to <see cref="CollectIncomingData"/> and
/// <see cref="FoundTerminator"/>; outgoing data is queued with <see cref="Push(ReadOnlySpan{byte})"/>
/// and <see cref="PushWithProducer"/> and sent in order as the socket takes it.
/// </summary>
/// <remarks>
/// Python: asynchat.async_chat. <see cref="Dispatcher"/> and AsyncChat channels mix freely in one map;
/// typically a listening Dispatcher creates one AsyncChat per accepted connection in
/// <see cref="Dispatcher.HandleAccepted"/>.
/// </remarks>
public abstract partial class AsyncChat : Dispatcher, IFramerTarget
{
    /// <summary>The default for <see cref="AcInBufferSize"/> and <see cref="AcOutBufferSize"/>: 4096, as the asynchat documentation states.</summary>
    public const int DefaultBufferSize = 4096;

    private readonly ChatFramer _framer = new();
    private Terminator _terminator;
    private int _inBufferSize = DefaultBufferSize;
    private int _outBufferSize = DefaultBufferSize;
    private bool _reading;
    private bool _midMessage;

    /// <summary>Creates the channel, optionally around a socket (see <see cref="Dispatcher(Socket?, SocketMap?)"/>).</summary>
    /// <param name="socket">A connected socket, an unconnected one, or null.</param>
    /// <param name="map">The map to join; <see cref="SocketMap.Default"/> when null.</param>
    /// <remarks>Python: async_chat.__init__(sock=None, map=None)</remarks>
    protected AsyncChat(Socket? socket = null, SocketMap? map = null) : base(socket, map)
    {
        _ownsSend = PredicateKind.SendIsLibraryOwned(this);
        _ownsRecv = PredicateKind.RecvIsLibraryOwned(this);
    }

    /// <summary>Whether this channel's <see cref="Dispatcher.Send"/> is the library's (worked out once per type).</summary>
    private readonly bool _ownsSend;

    /// <summary>Whether this channel's <see cref="Dispatcher.Recv(Span{byte})"/> is the library's (worked out once per type).</summary>
    private readonly bool _ownsRecv;

    /// <summary>How much the next read asks for: <see cref="AcInBufferSize"/>, doubled after each read that came back full, up to <see cref="ReadAheadLimit"/>.</summary>
    private int _readSize;

    /// <summary>
    /// The most bytes read from the socket at once (default 4096). Set it in a subclass's constructor or
    /// on an instance. Where the channel reads through the library's own <see cref="Dispatcher.Recv(Span{byte})"/>
    /// in the clear, reads that keep coming back full while nothing is queued to send ask for more, up
    /// to 64 KiB (see <see cref="HandleRead"/>).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    /// <remarks>Python: async_chat.ac_in_buffer_size</remarks>
    public int AcInBufferSize
    {
        get => _inBufferSize;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value);
            _inBufferSize = value;
        }
    }

    /// <summary>
    /// The most bytes <see cref="InitiateSend"/> sends at once, and the size <see cref="Push(ReadOnlySpan{byte})"/>
    /// splits long data into (default 4096). Where the channel sends through the library's own
    /// <see cref="Dispatcher.Send"/> in the clear, <see cref="HandleWrite"/> and the end-of-pass send
    /// give the kernel several small blocks in one send (up to 64 KiB), the same bytes in the same order.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    /// <remarks>Python: async_chat.ac_out_buffer_size</remarks>
    public int AcOutBufferSize
    {
        get => _outBufferSize;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value);
            _outBufferSize = value;
        }
    }

    /// <summary>How <see cref="SetTerminator(string?)"/> encodes text (Latin-1 by default).</summary>
    /// <remarks>Python: async_chat.encoding</remarks>
    public Encoding Encoding { get; set; } = Encoding.Latin1;

    Terminator IFramerTarget.Terminator
    {
        get => _terminator;
        set => _terminator = value;
    }

    /// <summary>
    /// Called with data received before the terminator (or all of it, with no terminator). The span
    /// points into the channel's receive buffer and is valid only during the call: copy what you keep.
    /// </summary>
    /// <param name="data">The bytes; never empty.</param>
    /// <remarks>Python: async_chat.collect_incoming_data(data)</remarks>
    protected abstract void CollectIncomingData(ReadOnlySpan<byte> data);

    /// <summary>
    /// Called when the terminating condition is met. Data after the terminator is read with the
    /// terminator as it is when this returns, so a new one set here applies to it.
    /// </summary>
    /// <remarks>Python: async_chat.found_terminator()</remarks>
    protected abstract void FoundTerminator();

    void IFramerTarget.CollectIncomingData(ReadOnlySpan<byte> data)
    {
        _midMessage = true;
        if (!_inputLimits)
        {
            CollectIncomingData(data);
            return;
        }

        CollectLimited(data);
    }

    void IFramerTarget.FoundTerminator()
    {
        _midMessage = false;
        if (_inputLimits && !MessageEnded())
        {
            return;
        }

        AsyncoreMetrics.Messages.Add(1);
        FoundTerminator();
    }

    /// <summary>Sets a byte-string terminator; null means no terminator (collect forever).</summary>
    /// <param name="terminator">The bytes (copied), or null.</param>
    /// <remarks>Python: async_chat.set_terminator(term)</remarks>
    [OverloadResolutionPriority(1)]
    public void SetTerminator(byte[]? terminator)
    {
        if (terminator is null)
        {
            _terminator = Terminator.None;
        }
        else
        {
            SetTerminator(new ReadOnlySpan<byte>(terminator));
        }
    }

    /// <summary>Sets a byte-string terminator such as <c>"\r\n"u8</c>. Setting the same bytes again allocates nothing.</summary>
    /// <param name="terminator">The bytes (copied).</param>
    /// <remarks>Python: async_chat.set_terminator(term)</remarks>
    public void SetTerminator(ReadOnlySpan<byte> terminator)
    {
        if (_lastBytes is not null && terminator.SequenceEqual(_lastBytes))
        {
            _terminator = Terminator.FromOwnedBytes(_lastBytes);
            return;
        }

        _lastBytes = terminator.ToArray();
        _terminator = Terminator.FromOwnedBytes(_lastBytes);
    }

    /// <summary>Sets a text terminator, encoded with <see cref="Encoding"/>; null means no terminator.</summary>
    /// <param name="terminator">The text, or null.</param>
    /// <remarks>Python: async_chat.set_terminator(term) with a str (use_encoding)</remarks>
    public void SetTerminator(string? terminator)
    {
        if (terminator is null)
        {
            _terminator = Terminator.None;
            return;
        }

        Span<byte> small = stackalloc byte[64];
        int max = Encoding.GetMaxByteCount(terminator.Length);
        if (max <= small.Length)
        {
            int n = Encoding.GetBytes(terminator, small);
            SetTerminator((ReadOnlySpan<byte>)small[..n]);
        }
        else
        {
            SetTerminator((ReadOnlySpan<byte>)Encoding.GetBytes(terminator));
        }
    }

    /// <summary>Sets a count terminator: <see cref="FoundTerminator"/> runs once that many more bytes were collected.</summary>
    /// <param name="count">The number of bytes (0 collects everything).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative.</exception>
    /// <remarks>Python: async_chat.set_terminator(n)</remarks>
    public void SetTerminator(long count) => _terminator = Terminator.FromCount(count);

    /// <summary>Sets a count terminator (see <see cref="SetTerminator(long)"/>).</summary>
    /// <param name="count">The number of bytes (0 collects everything).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative.</exception>
    /// <remarks>Python: async_chat.set_terminator(n)</remarks>
    public void SetTerminator(int count) => _terminator = Terminator.FromCount(count);

    /// <summary>Sets a terminator value made beforehand (for example a static <c>Terminator.FromBytes("\r\n"u8)</c>).</summary>
    /// <param name="terminator">The value.</param>
    /// <remarks>Python: async_chat.set_terminator(term)</remarks>
    public void SetTerminator(Terminator terminator) => _terminator = terminator;

    private byte[]? _lastBytes;

    /// <summary>The current terminating condition; a count shows how many bytes are still to come.</summary>
    /// <returns>The value.</returns>
    /// <remarks>Python: async_chat.get_terminator()</remarks>
    public Terminator GetTerminator() => _terminator;

    /// <summary>The length of the longest proper prefix of <paramref name="needle"/> that <paramref name="haystack"/> ends with.</summary>
    /// <param name="haystack">The data.</param>
    /// <param name="needle">The terminator.</param>
    /// <returns>0 when the data ends with no part of the terminator; -1 for an empty needle, as CPython returns.</returns>
    /// <remarks>Python: asynchat.find_prefix_at_end(haystack, needle) (CPythonBehaviourTests.FindPrefixAtEndMatchesCPython)</remarks>
    public static int FindPrefixAtEnd(ReadOnlySpan<byte> haystack, ReadOnlySpan<byte> needle) =>
        // CPython's loop starts at len(needle) - 1 and stops at once for -1, since every
        // bytes object ends with b''. The framer never asks with an empty terminator.
        needle.IsEmpty ? -1 : ChatFramer.FindPrefixAtEnd(haystack, needle);

    /// <summary>The most reads one <see cref="HandleRead"/> makes while reads come back full (libuv and nginx bound theirs too).</summary>
    private const int MaxReadsPerEvent = 16;

    /// <summary>The most bytes one <see cref="HandleRead"/> takes before it lets the other channels have their turn.</summary>
    private const int MaxReadBytesPerEvent = 256 * 1024;

    /// <summary>The most one read asks for while reads keep coming back full (when <see cref="AcInBufferSize"/> is smaller).</summary>
    internal const int ReadAheadLimit = 64 * 1024;

    /// <summary>
    /// Reads up to <see cref="AcInBufferSize"/> bytes and splits them at the terminator, calling
    /// <see cref="CollectIncomingData"/> and <see cref="FoundTerminator"/>. Would-block is ignored.
    /// While a read fills all the room it asked for (more is likely waiting) the channel reads again,
    /// each read framed before the next, up to 16 reads or 256 KiB per call, so a fast sender costs
    /// one readiness wait per batch of reads and still cannot hold the loop; and, where the channel
    /// reads through the library's own <see cref="Dispatcher.Recv(Span{byte})"/> in the clear and its
    /// input leaves no output queued, each full read doubles what the next asks for, up to 64 KiB (a
    /// read that brings half or less halves it, down to <see cref="AcInBufferSize"/>). CPython reads once per call, AcInBufferSize at a
    /// time; the callbacks see the same bytes in the same order, split as over that many reads.
    /// </summary>
    /// <remarks>Python: async_chat.handle_read()</remarks>
    protected override void HandleRead()
    {
        if (_state == ChatState.Lingering)
        {
            DrainWhileLingering();
            return;
        }

        int taken = 0;
        for (int reads = 1; ReadOnce(ref taken) && reads < MaxReadsPerEvent && taken < MaxReadBytesPerEvent; reads++)
        {
        }

        ReleaseReadBuffer();
    }

    /// <summary>Gives the receive buffer back to the pool once nothing is carried (at once after a close).</summary>
    private void ReleaseReadBuffer()
    {
        if (Fileno < 0)
        {
            _framer.Release();
        }
        else
        {
            _framer.ReleaseIfEmpty();
        }
    }

    /// <summary>Frames the unread bytes; <see cref="Close"/> from a callback halts the framer instead of releasing its buffer under it.</summary>
    private void Frame()
    {
        _reading = true;
        try
        {
            AsyncChat self = this;
            _framer.Feed(ref self);
        }
        finally
        {
            _reading = false;
        }
    }

    /// <summary>One read and its framing; the receive buffer is kept for the next read (the caller releases it).</summary>
    /// <param name="taken">Bytes read so far in this event; this read's are added.</param>
    /// <returns>Whether the read filled its room and the channel still reads: worth reading again now.</returns>
    private bool ReadOnce(ref int taken)
    {
        int size = Math.Max(_readSize, _inBufferSize);
        Span<byte> room = _framer.PrepareRead(size);
        int n;
        try
        {
            n = Recv(room);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
        {
            // CPython ignores BlockingIOError here (TestAsynchatMocked.test_blockingioerror).
            return false;
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            AsyncoreMetrics.Failures.Add(1);
            HandleError(e);
            return false;
        }

        if (n <= 0)
        {
            return false;
        }

        _framer.Commit(n);
        taken += n;
        if (_proxy is null || TakeProxyHeader())
        {
            Frame();
        }

        // A read that came back full says more is waiting: the next asks for twice as much (up to
        // 64 KiB), so a bulk stream costs fewer system calls; one that brought half of what it asked
        // or less halves it again, down to AcInBufferSize (Netty's adaptive receive buffer). The
        // framer sees the same bytes in the same order, split differently. Only while the input
        // leaves no output queued: a peer whose requests are answered is read AcInBufferSize at a
        // time, so one read's answers stay what they were against the water marks.
        if (_fifo.Count > 0)
        {
            _readSize = 0;
        }
        else if (n == size && _ownsRecv && !TlsStarted && _proxy is null)
        {
            _readSize = Math.Min(size * 2, Math.Max(ReadAheadLimit, _inBufferSize));
        }
        else if (n <= size / 2)
        {
            _readSize = size / 2;
        }

        // Full: more is probably waiting. Stop once the channel closed (Close leaves the Open state) or
        // stopped reading (output over the high-water mark, a message over its limit, end of stream
        // while output is queued), or while it still waits for its PROXY header.
        return n == room.Length && _state == ChatState.Open && _proxy is null && Readable();
    }

    /// <summary>The library reads this channel, AcInBufferSize at a time.</summary>
    internal override int LibraryReadSize => _inBufferSize;

    /// <summary>The library owns this channel's output queue.</summary>
    internal override bool LibraryOwnsOutput => true;

    /// <summary>Closes the channel.</summary>
    /// <remarks>Python: async_chat.handle_close()</remarks>
    protected internal override void HandleClose() => Close();

    /// <summary>
    /// True, as in CPython, unless the channel stopped reading: output over
    /// <see cref="HighWaterMark"/>, a message over <see cref="MaxMessageSize"/> with the Close
    /// policy, the peer's end of stream while output is still being sent, or input kept unread by
    /// <see cref="HoldInputUntilSent"/>.
    /// </summary>
    /// <returns>Whether to watch for reading.</returns>
    /// <remarks>Python: async_chat.readable()</remarks>
    public override bool Readable() => _state == ChatState.Lingering || (_state == ChatState.Open && (!_readingPaused || TlsHandshaking) && !(_framer.Held && _framer.Buffered > 0));

    /// <summary>
    /// Idle for a drain: open, no output queued, no message half received (input collected since
    /// the last terminator, or carried bytes), and no input waiting in the socket (requests already
    /// sent, such as pipelined ones, are read and answered first). A channel with no terminator is
    /// never between messages once it has received a byte; override this where the protocol knows better.
    /// </summary>
    public override bool IsIdle => _state == ChatState.Open && _fifo.Count == 0 && !_midMessage && _framer.Buffered == 0 && !InputWaiting() && !TransportSendPending();

    private bool InputWaiting()
    {
        try
        {
            return TlsInputBuffered || TransportInputWaiting || (Socket is { } socket && socket.Available > 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>True while output is queued or the channel is not yet connected.</summary>
    /// <returns>Whether to watch for writing.</returns>
    /// <remarks>
    /// Python: async_chat.writable(). On io_uring, a <see cref="FileRegion"/> at the head that waits for
    /// the ring to finish sending the bytes before it is not watched for writing: the ring's completion
    /// is the channel's write event.
    /// </remarks>
    public override bool Writable() => TlsWritable(_fifo.Count > 0 && !RegionWaitsForTransport) || !Connected;

    /// <summary>
    /// Closes the channel: sends first what was pushed earlier in this pass, then ends every timer
    /// the channel has, returns its receive buffer and its queued output's pooled segments.
    /// </summary>
    /// <remarks>Python: dispatcher.close()</remarks>
    public override void Close()
    {
        if (_flushPending && Fileno >= 0)
        {
            // Close straight after Push: send first what CPython's immediate send would have sent.
            FlushBatched();
        }

        EnterClosed();
        EndHold();
        base.Close();
        if (_reading)
        {
            _framer.Halt(); // no framing callback reaches the closed channel; HandleRead returns the buffer
        }
        else
        {
            _framer.Release();
        }
    }

    /// <summary>Drops buffered input and all queued output (including producers and a pending close); the next message starts from nothing.</summary>
    /// <remarks>Python: async_chat.discard_buffers()</remarks>
    public void DiscardBuffers()
    {
        _framer.Discard();
        EndHold();
        ResetMessage();
        _midMessage = false;
        _fifo.Clear();
        AfterOutputChange();
    }
}
