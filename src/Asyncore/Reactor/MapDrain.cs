namespace Asyncore.Reactor;

/// <summary>
/// A map's graceful drain: listeners closed at once, every other channel told once
/// (<see cref="Dispatcher.HandleDrain"/>) and closed at the end of the first pass in which it is
/// idle (<see cref="Dispatcher.IsIdle"/>), and whatever is left closed at the deadline.
/// </summary>
internal sealed class MapDrain
{
    private readonly SocketMap _map;
    private readonly LoopTimer _deadline;
    private readonly TaskCompletionSource<bool> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private List<Dispatcher> _channels = new();

    internal MapDrain(SocketMap map, TimeSpan deadline)
    {
        _map = map;
        foreach (Dispatcher channel in map.Values)
        {
            if (channel.Accepting)
            {
                channel.Close(); // new connections are refused from now on
            }
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
            _deadline.Cancel();
            _done.TrySetResult(!expired);
        }
    }

    private void Tell(Dispatcher channel)
    {
        if (channel.Draining || channel.Fileno < 0)
        {
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
        if (_map.Count > _channels.Count)
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

    private void Expire()
    {
        bool left = _map.Count > 0;
        EventLoop.CloseAll(_map, ignoreAll: true);
        _channels.Clear();
        Finish(expired: left);
    }
}
