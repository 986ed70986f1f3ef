using System.Collections;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Asyncore.Polling;
using Asyncore.Reactor;
using Microsoft.Extensions.Logging;

namespace Asyncore;

/// <summary>
/// The channel map: file descriptor → <see cref="Dispatcher"/>. A channel joins
/// <see cref="Default"/> unless it is given a map of its own; a loop drives one map. The map also
/// keeps the backends that have polled it, so that epoll's kernel set lives as long as the map.
/// </summary>
/// <remarks>
/// Python: asyncore.socket_map (a dict). Like everything in the library, a map is used from one
/// thread at a time: the thread that runs its loop.
/// </remarks>
public sealed partial class SocketMap : IEnumerable<KeyValuePair<nint, Dispatcher>>, IDisposable
{
    private readonly Dictionary<nint, Dispatcher> _channels = new();
    private readonly IPoller?[] _pollers = new IPoller?[4];
    private Dispatcher[] _snapshot = new Dispatcher[16];
    private PollEvent[] _events = new PollEvent[16];
    private readonly ConcurrentQueue<Action> _posted = new();
    private readonly HashSet<Dispatcher> _askEveryPass = new();
    private Dispatcher[] _askSnapshot = new Dispatcher[16];
    private List<Dispatcher> _dirty = new();
    private List<Dispatcher> _dirtySpare = new();
    private List<AsyncChat> _flush = new();
    private List<AsyncChat> _flushSpare = new();

    /// <summary>True while a pass dispatches events, posted actions and timers: replies are batched until its end.</summary>
    internal bool InPass;

    internal void AddFlush(AsyncChat channel) => _flush.Add(channel);

    /// <summary>End of a pass: every channel that queued output during it sends it now, in one send where the bytes are adjacent.</summary>
    internal void FlushPending()
    {
        while (_flush.Count > 0)
        {
            (_flush, _flushSpare) = (_flushSpare, _flush);
            foreach (AsyncChat channel in _flushSpare)
            {
                channel.FlushBatched();
            }

            _flushSpare.Clear();
        }
    }
    private Waker? _waker;

    /// <summary>The process-wide map that channels join when they are given none.</summary>
    /// <remarks>Python: asyncore.socket_map</remarks>
    public static SocketMap Default { get; } = new();

    /// <summary>
    /// Where the channels' <see cref="Dispatcher.Log"/>, <see cref="Dispatcher.LogInfo"/> and
    /// default <see cref="Dispatcher.HandleError"/> write. When null (the default) they keep
    /// CPython's plain output: <c>log: ...</c> on standard error, <c>type: message</c> on standard output.
    /// </summary>
    public ILogger? Logger { get; set; }

    /// <summary>
    /// Queues <paramref name="action"/> to run on the loop's thread, at the start of its next pass,
    /// and wakes the loop if it is waiting. The one member that any thread may call.
    /// </summary>
    /// <param name="action">The work; an exception it throws is logged and the loop goes on (except <see cref="ExitNowException"/>, which ends it).</param>
    public void Post(Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        _posted.Enqueue(action);
        Volatile.Read(ref _waker)?.Wake();
    }

    /// <summary>How many channels are in the map.</summary>
    /// <remarks>Python: len(socket_map)</remarks>
    public int Count => _channels.Count;

    /// <summary>The channel registered under a descriptor.</summary>
    /// <param name="fd">The descriptor.</param>
    /// <exception cref="KeyNotFoundException">No channel has that descriptor.</exception>
    /// <remarks>Python: socket_map[fd]</remarks>
    public Dispatcher this[nint fd] => _channels[fd];

    /// <summary>The channels now in the map (a copy).</summary>
    /// <remarks>Python: socket_map.values()</remarks>
    public IReadOnlyList<Dispatcher> Values => _channels.Values.ToArray();

    /// <summary>Whether a channel is registered under a descriptor.</summary>
    /// <param name="fd">The descriptor.</param>
    /// <remarks>Python: fd in socket_map</remarks>
    public bool ContainsKey(nint fd) => _channels.ContainsKey(fd);

    /// <summary>Looks a channel up by descriptor.</summary>
    /// <param name="fd">The descriptor.</param>
    /// <param name="channel">The channel, when found.</param>
    /// <returns>Whether it was found.</returns>
    /// <remarks>Python: socket_map.get(fd)</remarks>
    public bool TryGetValue(nint fd, [MaybeNullWhen(false)] out Dispatcher channel) => _channels.TryGetValue(fd, out channel);

    /// <summary>Registers a channel under a descriptor, replacing whatever was there.</summary>
    /// <param name="fd">The descriptor.</param>
    /// <param name="channel">The channel.</param>
    /// <remarks>Python: socket_map[fd] = channel. <see cref="Dispatcher.AddChannel(SocketMap?)"/> is the usual way in.</remarks>
    public void Add(nint fd, Dispatcher channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        if (_channels.TryGetValue(fd, out Dispatcher? old))
        {
            if (!ReferenceEquals(old, channel))
            {
                ForgetInPollers(fd);
            }
        }
        else
        {
            AsyncoreMetrics.Open.Add(1);
        }

        _channels[fd] = channel;
        channel.RegisteredMap = this;
        if (channel.StablePredicates)
        {
            channel.ClearInterestDirty();
            channel.MarkInterestDirty();
        }
        else
        {
            _askEveryPass.Add(channel);
        }
    }

    /// <summary>Removes the channel registered under a descriptor.</summary>
    /// <param name="fd">The descriptor.</param>
    /// <returns>Whether there was one.</returns>
    /// <remarks>Python: del socket_map[fd]</remarks>
    public bool Remove(nint fd)
    {
        if (!_channels.Remove(fd, out Dispatcher? gone))
        {
            return false;
        }

        _askEveryPass.Remove(gone);
        if (ReferenceEquals(gone.RegisteredMap, this))
        {
            gone.RegisteredMap = null;
        }

        AsyncoreMetrics.Open.Add(-1);
        ForgetInPollers(fd);
        return true;
    }

    /// <summary>Empties the map without closing anything (see <see cref="EventLoop.CloseAll(SocketMap?, bool)"/>).</summary>
    /// <remarks>Python: socket_map.clear()</remarks>
    public void Clear()
    {
        foreach (nint fd in _channels.Keys)
        {
            ForgetInPollers(fd);
        }

        AsyncoreMetrics.Open.Add(-_channels.Count);
        foreach (Dispatcher d in _channels.Values)
        {
            if (ReferenceEquals(d.RegisteredMap, this))
            {
                d.RegisteredMap = null;
            }
        }

        _channels.Clear();
        _askEveryPass.Clear();
        _dirty.Clear();
    }

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<nint, Dispatcher>> GetEnumerator() => _channels.ToList().GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Releases the backends' kernel resources (the epoll descriptor). The channels are left alone.</summary>
    public void Dispose()
    {
        for (int i = 0; i < _pollers.Length; i++)
        {
            _pollers[i]?.Dispose();
            _pollers[i] = null;
        }

        Interlocked.Exchange(ref _waker, null)?.Dispose();
    }

    /// <summary>The wake-up pair, created on the loop's thread on its first pass.</summary>
    internal Waker EnsureWaker()
    {
        Waker? w = _waker;
        if (w is null)
        {
            w = new Waker();
            Volatile.Write(ref _waker, w);
            if (!_posted.IsEmpty)
            {
                w.Wake();
            }
        }

        return w;
    }

    /// <summary>Logs an exception from work the loop runs for nobody's channel (posted actions, timers); the loop goes on.</summary>
    internal void LogLoopError(Exception e, string what)
    {
        if (Logger is { } logger)
        {
            logger.LogError(e, "{What} threw; the loop goes on", what);
        }
        else
        {
            Console.Error.WriteLine($"error: {what} threw {e}");
        }
    }

    /// <summary>Runs what other threads posted; the loop calls it on its own thread.</summary>
    internal void RunPosted()
    {
        if (_posted.IsEmpty)
        {
            return; // every pass asks: IsEmpty is a read, Count walks the queue's segments
        }

        int n = _posted.Count;
        while (n-- > 0 && _posted.TryDequeue(out Action? action))
        {
            try
            {
                action();
            }
            catch (ExitNowException)
            {
                throw;
            }
            catch (Exception e)
            {
                LogLoopError(e, "a posted action");
            }
        }
    }

    /// <summary>The channels as they are now, in a reused array: a pass may add and remove channels while it walks it.</summary>
    internal ReadOnlySpan<Dispatcher> Snapshot()
    {
        int n = _channels.Count;
        if (_snapshot.Length < n)
        {
            _snapshot = new Dispatcher[Math.Max(n, _snapshot.Length * 2)];
        }

        _channels.Values.CopyTo(_snapshot, 0);
        return _snapshot.AsSpan(0, n);
    }

    /// <summary>Drops the references the snapshot holds, so closed channels can be collected.</summary>
    internal void ClearSnapshot(int count) => Array.Clear(_snapshot, 0, count);

    /// <summary>A reused event buffer with room for one event per channel per kind of readiness.</summary>
    internal Span<PollEvent> EventBuffer(int channels)
    {
        int want = Math.Max(16, channels * 3);
        if (_events.Length < want)
        {
            _events = new PollEvent[Math.Max(want, _events.Length * 2)];
        }

        return _events;
    }

    /// <summary>The backend of a resolved kind for this map, created on first use and kept.</summary>
    internal IPoller Poller(PollerKind resolved)
    {
        ref IPoller? slot = ref _pollers[(int)resolved];
        if (slot is null)
        {
            slot = PollerFactory.Create(resolved);
            foreach (Dispatcher d in _channels.Values)
            {
                // A new kernel set knows nobody yet.
                d.ClearInterestDirty();
                d.MarkInterestDirty();
            }
        }

        return slot;
    }

    internal void AddDirty(Dispatcher channel) => _dirty.Add(channel);

    /// <summary>The channels marked dirty since the last call (the list is swapped, not copied).</summary>
    internal List<Dispatcher> TakeDirty()
    {
        (_dirty, _dirtySpare) = (_dirtySpare, _dirty);
        _dirty.Clear();
        return _dirtySpare;
    }

    /// <summary>The channels whose own predicates must be asked on every pass, in a reused array.</summary>
    internal ReadOnlySpan<Dispatcher> AskEveryPass()
    {
        int n = _askEveryPass.Count;
        if (_askSnapshot.Length < n)
        {
            _askSnapshot = new Dispatcher[Math.Max(n, _askSnapshot.Length * 2)];
        }

        _askEveryPass.CopyTo(_askSnapshot);
        return _askSnapshot.AsSpan(0, n);
    }

    internal void ClearAskSnapshot(int count) => Array.Clear(_askSnapshot, 0, count);

    private void ForgetInPollers(nint fd)
    {
        foreach (IPoller? p in _pollers)
        {
            p?.Remove(fd);
        }
    }
}
