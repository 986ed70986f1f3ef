using Asyncore.Reactor;

namespace Asyncore;

public abstract partial class AsyncChat
{
    private long? _highWaterMark;
    private long? _lowWaterMark;
    private long? _outputHardLimit;
    private long? _outputSoftLimit;
    private TimeSpan _outputSoftLimitTime = TimeSpan.FromSeconds(10);
    private bool _outputLimits;
    private bool _readingPaused;
    private Deadline? _softDeadline;

    /// <summary>
    /// Output backpressure: when queued output costs more than this many bytes (with the unsent bytes
    /// of queued <see cref="FileRegion"/>s, which are not in memory), the channel stops
    /// reading (<see cref="Readable"/> turns false) until it drains to <see cref="LowWaterMark"/>;
    /// <see cref="HandleBackpressure"/> is told both ways. Null (the default) never pauses. The
    /// output limits count what the queue really holds: each entry's bytes plus a fixed overhead per
    /// entry (<see cref="OutgoingCost"/>), so many tiny pushes cannot slip under them.
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

    /// <summary>A slow consumer whose unsent output (<see cref="OutgoingCost"/>) passes this many bytes is closed at once, with the reason logged. Null: no limit.</summary>
    public long? OutputHardLimit
    {
        get => _outputHardLimit;
        set
        {
            _outputHardLimit = value;
            UpdateOutputLimits();
        }
    }

    /// <summary>A slow consumer whose unsent output (<see cref="OutgoingCost"/>) stays above this many bytes for longer than <see cref="OutputSoftLimitTime"/> is closed, with the reason logged. Null: no limit.</summary>
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

    /// <summary>Output crossed <see cref="HighWaterMark"/> (<paramref name="readingPaused"/> true) or drained to <see cref="LowWaterMark"/> (false). By default does nothing.</summary>
    /// <param name="readingPaused">Whether reading is now paused.</param>
    protected virtual void HandleBackpressure(bool readingPaused)
    {
    }

    private void UpdateOutputLimits()
    {
        _outputLimits = _highWaterMark.HasValue || _outputHardLimit.HasValue || _outputSoftLimit.HasValue;
        AfterOutputChange();
    }

    /// <summary>Backpressure, the slow-consumer limits, and the end of a half-closed channel, after any change to the queue.</summary>
    private void AfterOutputChange()
    {
        InterestChanged();
        if (_state == ChatState.PeerHalfClosed && _fifo.Count == 0 && !TlsOutputPending && Fileno >= 0 && !TransportSendPending())
        {
            // Queue and encrypted records both sent: over TLS the last records may still wait for the socket.
            NotifyClose();
            return;
        }

        if (!_outputLimits || Fileno < 0)
        {
            return;
        }

        long queued = _fifo.QueuedCost;
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
                _softDeadline?.Extend(Deadline.Never);
            }
            else if (_softDeadline is not { Due: < Deadline.Never })
            {
                _softDeadline ??= new Deadline(() => Guard(() =>
                {
                    LogInfo($"slow consumer: output over the soft limit of {_outputSoftLimit} bytes for more than {_outputSoftLimitTime}; closing", "error");
                    Close();
                }));
                _softDeadline.Set(Map.Reactor.Timers, Deadline.After(Deadline.Now, _outputSoftLimitTime));
            }
        }

        if (_highWaterMark is { } high)
        {
            long low = _lowWaterMark ?? high / 2;
            long pending = queued + _fifo.RegionBytes; // a file region's unsent bytes count here, as Netty counts a FileRegion
            if (!_readingPaused && pending > high)
            {
                _readingPaused = true;
                HandleBackpressure(true);
            }
            else if (_readingPaused && pending <= low)
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
}
