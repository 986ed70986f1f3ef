using System.Diagnostics;
using System.Net.Sockets;

namespace Asyncore;

/// <summary>What an <see cref="AsyncChat"/> does with a message over <see cref="AsyncChat.MaxMessageSize"/>.</summary>
public enum OverflowPolicy
{
    /// <summary>Stop reading and close the channel once the output already queued has been sent.</summary>
    Close = 0,

    /// <summary>Drop the rest of the message up to its terminator, report it, and carry on with the next one.</summary>
    Discard = 1,
}

public abstract partial class AsyncChat
{
    private long? _maxMessageSize;
    private TimeSpan? _messageTimeout;
    private bool _inputLimits;
    private long _messageBytes;
    private long _dropped;
    private bool _overflowClosing;
    private bool _messageStarted;
    private long _messageDeadline;
    private LoopTimer? _messageTimer;
    private bool _messageTimerQueued;

    private long? _highWaterMark;
    private long? _lowWaterMark;
    private long? _outputHardLimit;
    private long? _outputSoftLimit;
    private TimeSpan _outputSoftLimitTime = TimeSpan.FromSeconds(10);
    private bool _outputLimits;
    private bool _readingPaused;
    private long _softSince;
    private LoopTimer? _softTimer;
    private bool _softTimerQueued;
    private bool _eofPending;
    private bool _lingering;
    private LoopTimer? _lingerTimer;

    /// <summary>How long a closing channel keeps draining unread input after sending its last byte (default 2 s).</summary>
    public TimeSpan LingerTime { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The close marker was reached. Closing a TCP socket with unread input makes the kernel send a
    /// reset, and a reset makes the peer drop what it has not read yet, our last answer included.
    /// So when input is waiting, shut down our side instead (the peer sees the end of our data), read
    /// and drop input until its end of stream or <see cref="LingerTime"/>, then close.
    /// </summary>
    /// <returns>Whether the close was deferred.</returns>
    private bool BeginLingeringClose()
    {
        if (Socket is not { } socket || LingerTime <= TimeSpan.Zero)
        {
            return false;
        }

        try
        {
            if (socket.Available == 0)
            {
                return false;
            }

            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }

        _lingering = true;
        MarkInterestDirty();
        _lingerTimer ??= new LoopTimer(() =>
        {
            if (Fileno >= 0)
            {
                Guard(NotifyClose);
            }
        });
        _lingerTimer.Reset();
        Map.Schedule(_lingerTimer, Stopwatch.GetTimestamp() + Ticks(LingerTime));
        return true;
    }

    private void DrainWhileLingering()
    {
        Span<byte> scratch = stackalloc byte[4096];
        _ = Recv(scratch); // dropped; at the peer's end of stream Recv calls HandleClose
    }

    /// <summary>
    /// The most bytes one message may have (counted since the last terminator); null (the default)
    /// is unlimited, as in CPython. Bytes under the limit still reach
    /// <see cref="CollectIncomingData"/> as they arrive; the rest are dropped and
    /// <see cref="HandleOverflow"/> says how many.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    public long? MaxMessageSize
    {
        get => _maxMessageSize;
        set
        {
            if (value is { } v)
            {
                ArgumentOutOfRangeException.ThrowIfNegativeOrZero(v);
            }

            _maxMessageSize = value;
            _inputLimits = _maxMessageSize.HasValue || _messageTimeout.HasValue;
        }
    }

    /// <summary>What happens to a message over <see cref="MaxMessageSize"/> (default: <see cref="Asyncore.OverflowPolicy.Close"/>).</summary>
    public OverflowPolicy OverflowPolicy { get; set; }

    /// <summary>
    /// When set, a message that has started (its first byte arrived) must reach its terminator within
    /// this time, or <see cref="HandleMessageTimeout"/> runs (closing the channel by default): a peer
    /// sending one byte a second never completes a request. Null (the default) waits forever.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    public TimeSpan? MessageTimeout
    {
        get => _messageTimeout;
        set
        {
            if (value is { } v)
            {
                ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(v, TimeSpan.Zero);
            }

            _messageTimeout = value;
            _inputLimits = _maxMessageSize.HasValue || _messageTimeout.HasValue;
        }
    }

    /// <summary>
    /// Output backpressure: when more than this many bytes are queued and unsent, the channel stops
    /// reading (<see cref="Readable"/> turns false) until the queue drains to
    /// <see cref="LowWaterMark"/>; <see cref="HandleBackpressure"/> is told both ways. Null (the default) never pauses.
    /// </summary>
    public long? HighWaterMark
    {
        get => _highWaterMark;
        set
        {
            _highWaterMark = value;
            UpdateOutputLimits();
        }
    }

    /// <summary>Where reading resumes after <see cref="HighWaterMark"/> (default: half of it).</summary>
    public long? LowWaterMark
    {
        get => _lowWaterMark;
        set
        {
            _lowWaterMark = value;
            UpdateOutputLimits();
        }
    }

    /// <summary>A slow consumer whose unsent output passes this many bytes is closed at once, with the reason logged. Null: no limit.</summary>
    public long? OutputHardLimit
    {
        get => _outputHardLimit;
        set
        {
            _outputHardLimit = value;
            UpdateOutputLimits();
        }
    }

    /// <summary>A slow consumer whose unsent output stays above this many bytes for longer than <see cref="OutputSoftLimitTime"/> is closed, with the reason logged. Null: no limit.</summary>
    public long? OutputSoftLimit
    {
        get => _outputSoftLimit;
        set
        {
            _outputSoftLimit = value;
            UpdateOutputLimits();
        }
    }

    /// <summary>How long output may stay over <see cref="OutputSoftLimit"/> (default 10 s).</summary>
    public TimeSpan OutputSoftLimitTime
    {
        get => _outputSoftLimitTime;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            _outputSoftLimitTime = value;
        }
    }

    /// <summary>Whether reading is paused by <see cref="HighWaterMark"/>.</summary>
    public bool ReadingPaused => _readingPaused;

    /// <summary>
    /// A message went over <see cref="MaxMessageSize"/>. With <see cref="Asyncore.OverflowPolicy.Discard"/>
    /// it is called when the oversized message's terminator arrives, in place of
    /// <see cref="FoundTerminator"/> (the bytes collected so far belong to the dropped message); with
    /// <see cref="Asyncore.OverflowPolicy.Close"/> it is called at once, and the channel then closes after
    /// sending what is queued. By default it logs.
    /// </summary>
    /// <param name="droppedBytes">How many bytes of the message were dropped.</param>
    protected virtual void HandleOverflow(long droppedBytes) =>
        LogInfo($"message over {MaxMessageSize} bytes ({droppedBytes} bytes dropped){(OverflowPolicy == OverflowPolicy.Close ? "; closing" : "")}", OverflowPolicy == OverflowPolicy.Close ? "error" : "warning");

    /// <summary>A started message did not reach its terminator within <see cref="MessageTimeout"/>. By default logs it and closes the channel.</summary>
    protected virtual void HandleMessageTimeout()
    {
        LogInfo($"message not complete within {MessageTimeout}, closing", "error");
        Close();
    }

    /// <summary>Output crossed <see cref="HighWaterMark"/> (<paramref name="readingPaused"/> true) or drained to <see cref="LowWaterMark"/> (false). By default does nothing.</summary>
    /// <param name="readingPaused">Whether reading is now paused.</param>
    protected virtual void HandleBackpressure(bool readingPaused)
    {
    }

    private protected override bool DeferCloseOnEof()
    {
        if (_fifo.Count > 0 && Connected)
        {
            // Half-close: the peer has sent its last byte but may still read ours: send what is queued, then close.
            _eofPending = true;
            MarkInterestDirty();
            return true;
        }

        return false;
    }

    private void CollectLimited(ReadOnlySpan<byte> data)
    {
        if (_overflowClosing)
        {
            return;
        }

        if (_messageTimeout is { } timeout && !_messageStarted)
        {
            _messageStarted = true;
            _messageDeadline = Stopwatch.GetTimestamp() + Ticks(timeout);
            if (!_messageTimerQueued)
            {
                _messageTimer ??= new LoopTimer(OnMessageTimer);
                _messageTimerQueued = true;
                Map.Schedule(_messageTimer, _messageDeadline);
            }
        }

        if (_maxMessageSize is not { } max)
        {
            CollectIncomingData(data);
            return;
        }

        long room = max - _messageBytes;
        if (data.Length <= room)
        {
            _messageBytes += data.Length;
            CollectIncomingData(data);
            return;
        }

        if (room > 0)
        {
            _messageBytes = max;
            CollectIncomingData(data[..(int)room]);
        }

        _dropped += data.Length - Math.Max(0, room);
        if (OverflowPolicy == OverflowPolicy.Close && !_overflowClosing)
        {
            _overflowClosing = true;
            HandleOverflow(_dropped);
            CloseWhenDone();
            InitiateSend();
        }
    }

    /// <returns>Whether FoundTerminator should run (false for the end of a discarded message, or while closing).</returns>
    private bool MessageEnded()
    {
        _messageStarted = false;
        if (_overflowClosing)
        {
            return false;
        }

        long dropped = _dropped;
        _messageBytes = 0;
        _dropped = 0;
        if (dropped > 0)
        {
            HandleOverflow(dropped);
            return false;
        }

        return true;
    }

    private void OnMessageTimer()
    {
        _messageTimerQueued = false;
        if (Fileno < 0 || !_messageStarted || _messageTimeout is null)
        {
            return;
        }

        if (Stopwatch.GetTimestamp() < _messageDeadline)
        {
            _messageTimerQueued = true;
            Map.Schedule(_messageTimer!, _messageDeadline);
            return;
        }

        Guard(HandleMessageTimeout);
    }

    private void UpdateOutputLimits()
    {
        _outputLimits = _highWaterMark.HasValue || _outputHardLimit.HasValue || _outputSoftLimit.HasValue;
        AfterOutputChange();
    }

    /// <summary>Backpressure, the slow-consumer limits, and the end of a half-closed channel, after any change to the queue.</summary>
    private void AfterOutputChange()
    {
        MarkInterestDirty();
        if (_eofPending && _fifo.Count == 0 && Fileno >= 0)
        {
            NotifyClose();
            return;
        }

        if (!_outputLimits || Fileno < 0)
        {
            return;
        }

        long queued = _fifo.QueuedBytes;
        if (_outputHardLimit is { } hard && queued > hard)
        {
            LogInfo($"slow consumer: {queued} bytes of output unsent, over the hard limit of {hard}; closing", "error");
            Close();
            return;
        }

        if (_outputSoftLimit is { } soft)
        {
            if (queued <= soft)
            {
                _softSince = 0;
            }
            else if (_softSince == 0)
            {
                _softSince = Stopwatch.GetTimestamp();
                if (!_softTimerQueued)
                {
                    _softTimer ??= new LoopTimer(OnSoftTimer);
                    _softTimerQueued = true;
                    Map.Schedule(_softTimer, _softSince + Ticks(_outputSoftLimitTime));
                }
            }
        }

        if (_highWaterMark is { } high)
        {
            long low = _lowWaterMark ?? high / 2;
            if (!_readingPaused && queued > high)
            {
                _readingPaused = true;
                HandleBackpressure(true);
            }
            else if (_readingPaused && queued <= low)
            {
                _readingPaused = false;
                HandleBackpressure(false);
            }
        }
        else if (_readingPaused)
        {
            _readingPaused = false;
            HandleBackpressure(false);
        }
    }

    private void OnSoftTimer()
    {
        _softTimerQueued = false;
        if (Fileno < 0 || _softSince == 0 || _outputSoftLimit is not { } soft)
        {
            return;
        }

        long due = _softSince + Ticks(_outputSoftLimitTime);
        if (Stopwatch.GetTimestamp() < due)
        {
            _softTimerQueued = true;
            Map.Schedule(_softTimer!, due);
            return;
        }

        Guard(() =>
        {
            LogInfo($"slow consumer: output over the soft limit of {soft} bytes for more than {_outputSoftLimitTime}; closing", "error");
            Close();
        });
    }
}
