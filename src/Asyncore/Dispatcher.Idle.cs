using Asyncore.Reactor;

namespace Asyncore;

public partial class Dispatcher
{
    private TimeSpan? _idleTimeout;
    private long _idleTicks;
    private Deadline? _idle;
    private bool _closeNotified;

    /// <summary>
    /// When set, a channel that receives and sends no bytes for this long gets
    /// <see cref="HandleIdle"/> (which closes it by default). Null (the default) never times out, and
    /// so does a time too long to represent (<see cref="TimeSpan.MaxValue"/>). Setting it starts the
    /// wait again from now, shorter or longer than before. Set it on the loop's thread.
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
            if (value is { } timeout)
            {
                _idleTicks = Deadline.After(0, timeout);
                _idle ??= new Deadline(() => Guard(HandleIdle));
                _idle.Set(_map.Reactor.Timers, Deadline.After(Deadline.Now, timeout));
            }
            else
            {
                _idle?.Clear();
            }
        }
    }

    /// <summary>
    /// The channel moved bytes: an idle timeout starts again (a field write; the timer catches up when
    /// it fires). Inside a pass "now" is the pass's clock, read once after the wait (as nginx updates
    /// its time once per event loop iteration), so a send or receive costs no clock read.
    /// </summary>
    internal void Touch()
    {
        if (_idle is { Armed: true } idle)
        {
            long now = Registration is { } reg ? reg.Reactor.Now : Deadline.Now;
            idle.Extend(Deadline.AfterTicks(now, _idleTicks));
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
        _transport = null; // a new socket gets a transport of its own
        OnNewSocket();
    }

    /// <summary>A new socket or descriptor was adopted: subclasses reset their per-connection state.</summary>
    private protected virtual void OnNewSocket()
    {
    }

    /// <summary>Whether the channel's map is draining and has told this channel (see <see cref="SocketMap.BeginDrain"/>).</summary>
    public bool Draining { get; internal set; }

    /// <summary>
    /// Whether the channel is between exchanges, so a draining map may close it now. True for a plain
    /// Dispatcher (the library cannot see its protocol); <see cref="DispatcherWithSend"/> and
    /// <see cref="AsyncChat"/> say false while output is unsent or a message is half received.
    /// Override it to keep a channel through a drain until its protocol is done.
    /// </summary>
    public virtual bool IsIdle => true;

    /// <summary>
    /// The map began to drain (<see cref="SocketMap.BeginDrain"/>): say goodbye the protocol's way
    /// (queue a last line, mark the next answer as the last). Called once. After it, the map closes
    /// the channel at the end of the first pass in which it is <see cref="IsIdle"/>. The default
    /// closes an idle channel at once and lets a busy one finish.
    /// </summary>
    protected internal virtual void HandleDrain()
    {
        if (IsIdle)
        {
            Close();
        }
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
}
