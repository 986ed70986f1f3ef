using Asyncore.Reactor;

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
    private bool _messageStarted;
    private Deadline? _messageDeadline;

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
            if (value is null)
            {
                _messageDeadline?.Clear();
            }
        }
    }

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

    private void CollectLimited(ReadOnlySpan<byte> data)
    {
        if (_state == ChatState.Draining)
        {
            return;
        }

        if (_messageTimeout is { } timeout && !_messageStarted)
        {
            _messageStarted = true;
            _messageDeadline ??= new Deadline(() => Guard(HandleMessageTimeout));
            _messageDeadline.Set(Map.Reactor.Timers, Deadline.After(Deadline.Now, timeout));
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
        if (OverflowPolicy == OverflowPolicy.Close && _state == ChatState.Open)
        {
            Enter(ChatState.Draining);
            HandleOverflow(_dropped);
            CloseWhenDone();
            InitiateSend();
        }
    }

    /// <returns>Whether FoundTerminator should run (false for the end of a discarded message, or while closing).</returns>
    private bool MessageEnded()
    {
        if (_state == ChatState.Draining)
        {
            _messageStarted = false;
            return false;
        }

        long dropped = _dropped;
        ResetMessage();
        if (dropped > 0)
        {
            HandleOverflow(dropped);
            return false;
        }

        return true;
    }

    /// <summary>The next message starts from nothing: no bytes counted, no deadline running (lazily: the queued timer lapses).</summary>
    private void ResetMessage()
    {
        _messageStarted = false;
        _messageBytes = 0;
        _dropped = 0;
        _messageDeadline?.Extend(Deadline.Never);
    }
}
