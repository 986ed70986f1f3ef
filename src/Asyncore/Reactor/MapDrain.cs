namespace Asyncore.Reactor;

/// <summary>
/// A map's graceful drain: listeners stop taking new connections at once and close once what their
/// backlog holds is accepted, every other channel told once (<see cref="Dispatcher.HandleDrain"/>)
/// and closed at the end of the first pass in which it is idle (<see cref="Dispatcher.IsIdle"/>),
/// and whatever is left closed at the deadline.
/// </summary>
/// <remarks>
/// Closing a listening socket resets every connection its accept queue holds: connections the kernel
/// completed, whose clients believe they are connected. So a TCP listener on Linux first gets a filter
/// that drops new SYNs (<see cref="SynFilter"/>), keeps accepting for <see cref="HandshakeGrace"/> (long
/// enough for a handshake under way to complete) and until its queue is empty, and only then closes.
/// Where no filter can be attached the listener closes at once, as before.
/// </remarks>
internal sealed class MapDrain
{
    /// <summary>How long a filtered listener keeps accepting: handshakes the kernel began before the filter complete within a round trip.</summary>
    internal static readonly TimeSpan HandshakeGrace = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest a filtered listener stays open (a listener that does not read its backlog, say).</summary>
    internal static readonly TimeSpan ListenerLimit = TimeSpan.FromSeconds(1);

    private readonly SocketMap _map;
    private readonly LoopTimer _deadline;
    private readonly TaskCompletionSource<bool> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private List<Dispatcher> _channels = new();
    private List<Dispatcher> _listeners = new();
    private LoopTimer? _graceOver;
    private LoopTimer? _limit;
    private bool _pastGrace;
    private bool _pastLimit;

    internal MapDrain(SocketMap map, TimeSpan deadline)
    {
        _map = map;
        foreach (Dispatcher channel in map.Values)
        {
            if (channel.Accepting)
            {
                StopListening(channel);
            }
        }

        if (_listeners.Count > 0)
        {
            // Timers: the pass they end closes the listeners even when nothing else happens.
            _graceOver = map.CallLater(HandshakeGrace, () => _pastGrace = true);
            _limit = map.CallLater(ListenerLimit, () => _pastLimit = true);
        }

        foreach (Dispatcher channel in map.Values)
        {
            Tell(channel);
        }

        _deadline = map.CallLater(deadline, Expire);
        Finish(expired: false);
    }

    /// <summary>Completes when the map is empty: true when every channel closed before the deadline.</summary>
    internal Task<bool> Done => _done.Task;

    private void Finish(bool expired)
    {
        if (_map.Count == 0 || expired)
        {
            _graceOver?.Cancel();
            _limit?.Cancel();
            _deadline.Cancel();
            _done.TrySetResult(!expired);
        }
    }

    /// <summary>A listener stops taking new connections: filtered (and closed once its backlog is accepted), or closed at once.</summary>
    private void StopListening(Dispatcher listener)
    {
        if (listener.Socket is { } socket && SynFilter.Attach(socket))
        {
            _listeners.Add(listener); // no new handshakes from now on; the backlog is accepted, then it closes
        }
        else
        {
            Run(listener, static c => c.Close()); // new connections are refused from now on
        }
    }

    private void Tell(Dispatcher channel)
    {
        if (channel.Draining || channel.Fileno < 0 || _listeners.Contains(channel))
        {
            return;
        }

        if (channel.Accepting)
        {
            StopListening(channel); // a listener that joined during the drain
            return;
        }

        channel.Draining = true;
        _channels.Add(channel);
        Run(channel, static c => c.HandleDrain());
    }

    private static void Run(Dispatcher channel, Action<Dispatcher> action)
    {
        try
        {
            action(channel);
        }
        catch (ExitNowException)
        {
            throw;
        }
        catch (Exception e)
        {
            EventDispatch.Fail(channel, e);
        }
    }

    /// <summary>End of a pass: close the channels that became idle; tell channels that joined since; finish when the map is empty.</summary>
    internal void AtPassEnd()
    {
        if (_listeners.Count > 0)
        {
            CloseListeners();
        }

        if (_map.Count > _channels.Count + _listeners.Count)
        {
            foreach (Dispatcher channel in _map.Values)
            {
                Tell(channel);
            }
        }

        List<Dispatcher> open = new(_channels.Count);
        foreach (Dispatcher channel in _channels)
        {
            if (channel.Fileno >= 0 && channel.IsIdle)
            {
                Run(channel, static c => c.Close());
            }

            if (channel.Fileno >= 0)
            {
                open.Add(channel);
            }
        }

        _channels = open;
        Finish(expired: false);
    }

    /// <summary>
    /// Closes each filtered listener once the grace is over and its accept queue is empty (or accepting
    /// is paused for want of descriptors, or the limit has come): nothing completed is left to reset.
    /// </summary>
    private void CloseListeners()
    {
        if (!_pastGrace)
        {
            return;
        }

        List<Dispatcher> open = new(_listeners.Count);
        foreach (Dispatcher listener in _listeners)
        {
            if (listener.Fileno >= 0 && (_pastLimit || listener.AcceptPaused || !BacklogWaiting(listener)))
            {
                Run(listener, static c => c.Close());
            }

            if (listener.Fileno >= 0)
            {
                open.Add(listener);
            }
        }

        _listeners = open;
    }

    /// <summary>Whether the listener's accept queue holds a connection (a listening socket is readable then).</summary>
    private static bool BacklogWaiting(Dispatcher listener)
    {
        try
        {
            return listener.Socket is { } socket && socket.Poll(0, System.Net.Sockets.SelectMode.SelectRead);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private void Expire()
    {
        bool left = _map.Count > 0;
        EventLoop.CloseAll(_map, ignoreAll: true);
        _channels.Clear();
        _listeners.Clear();
        Finish(expired: left);
    }
}
