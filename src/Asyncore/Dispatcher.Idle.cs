using System.Diagnostics;
using Asyncore.Reactor;

namespace Asyncore;

public partial class Dispatcher
{
    private TimeSpan? _idleTimeout;
    private LoopTimer? _idleTimer;
    private bool _idleQueued;
    private long _lastActivity;
    private bool _closeNotified;

    /// <summary>
    /// When set, a channel that receives and sends no bytes for this long gets
    /// <see cref="HandleIdle"/> (which closes it by default). Null (the default) never times out.
    /// Set it on the loop's thread, once the channel is in its map.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    public TimeSpan? IdleTimeout
    {
        get => _idleTimeout;
        set
        {
            if (value is { } v)
            {
                ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(v, TimeSpan.Zero);
            }

            _idleTimeout = value;
            _lastActivity = Stopwatch.GetTimestamp();
            if (value is not null && !_idleQueued)
            {
                _idleTimer ??= new LoopTimer(OnIdleTimer);
                _idleTimer.Reset();
                _idleQueued = true;
                _map.Schedule(_idleTimer, _lastActivity + Ticks(value.Value));
            }
        }
    }

    /// <summary>The channel moved bytes: an idle timeout starts again.</summary>
    internal void Touch()
    {
        if (_idleTimeout.HasValue)
        {
            _lastActivity = Stopwatch.GetTimestamp();
        }
    }

    /// <summary>No bytes in or out for <see cref="IdleTimeout"/>. By default logs it and closes the channel.</summary>
    protected virtual void HandleIdle()
    {
        LogInfo($"no bytes in or out for {_idleTimeout}, closing", "info");
        Close();
    }

    /// <summary>
    /// The library's one way to call <see cref="HandleClose"/>: at most once per socket, and never
    /// after the channel was closed.
    /// </summary>
    internal void NotifyClose()
    {
        if (_closeNotified || CloseCount > _closeCountAtSocket)
        {
            return;
        }

        _closeNotified = true;
        HandleClose();
    }

    private int _closeCountAtSocket;

    /// <summary>A new socket or descriptor: the close notification is owed again.</summary>
    private void ArmForNewSocket()
    {
        _closeNotified = false;
        _closeCountAtSocket = CloseCount;
    }

    private void OnIdleTimer()
    {
        _idleQueued = false;
        if (_idleTimeout is not { } timeout || Fileno < 0)
        {
            return;
        }

        long due = _lastActivity + Ticks(timeout);
        if (Stopwatch.GetTimestamp() < due)
        {
            _idleQueued = true;
            _map.Schedule(_idleTimer!, due);
            return;
        }

        Guard(HandleIdle);
    }

    /// <summary>Runs a library-initiated callback with the loop's error rules.</summary>
    private protected void Guard(Action callback)
    {
        try
        {
            callback();
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

    private protected static long Ticks(TimeSpan t) => (long)(t.TotalSeconds * Stopwatch.Frequency);
}
