using System.Collections;
using System.Diagnostics.CodeAnalysis;
using Asyncore.Reactor;
using Microsoft.Extensions.Logging;

namespace Asyncore;

/// <summary>
/// The channel map: file descriptor → <see cref="Dispatcher"/>. A channel joins
/// <see cref="Default"/> unless it is given a map of its own; a loop drives one map. Behind the map
/// stands its loop's state (descriptor table, backend, timers, posted work), which the map keeps
/// up to date as channels join and leave.
/// </summary>
/// <remarks>
/// Python: asyncore.socket_map (a dict). Like everything in the library, a map is used from one
/// thread at a time: the thread that runs its loop (<see cref="Post"/> is the exception).
/// </remarks>
public sealed partial class SocketMap : IEnumerable<KeyValuePair<nint, Dispatcher>>, IDisposable
{
    private readonly Dictionary<nint, Dispatcher> _channels = new();

    /// <summary>Creates an empty map.</summary>
    public SocketMap() => Reactor = new ReactorCore(this);

    /// <summary>The loop's state for this map.</summary>
    internal ReactorCore Reactor { get; }

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
        Reactor.Post(action);
    }

    /// <summary>
    /// Begins a graceful drain, as a server does on SIGTERM: listening channels stop taking new
    /// connections at once and close once the connections already in their backlog are accepted (on
    /// Linux a TCP listener drops new SYNs from now on and closes after about 100 ms, so no connection
    /// the kernel completed is reset and later ones are refused; elsewhere it closes at once); every other channel hears <see cref="Dispatcher.HandleDrain"/> once, so
    /// its protocol can say goodbye its own way, and is closed at the end of the first pass in which
    /// it is <see cref="Dispatcher.IsIdle"/> (an idle one at once, a busy one once its exchange is done);
    /// channels that join later are treated the same. When <paramref name="deadline"/> passes,
    /// whatever is left is closed. Call it on the loop's thread (from another: inside <see cref="Post"/>)
    /// and keep the loop running (<see cref="EventLoop.Drain"/> does both for a loop on this thread).
    /// </summary>
    /// <param name="deadline">How long channels may take to finish.</param>
    /// <returns>
    /// A task that completes once the map is empty: true when every channel closed by itself before
    /// the deadline, false when the deadline closed some. Calling it again returns the same task.
    /// </returns>
    /// <remarks>nginx's graceful shutdown and Kestrel's shutdown timeout, for one map.</remarks>
    public Task<bool> BeginDrain(TimeSpan deadline)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(deadline, TimeSpan.Zero);
        Reactor.CheckLoopThread("SocketMap.BeginDrain");
        Reactor.Drain ??= new MapDrain(this, deadline);
        return Reactor.Drain.Done;
    }

    /// <summary>Whether <see cref="BeginDrain"/> was called.</summary>
    public bool Draining => Reactor.Drain is not null;

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
        Reactor.CheckLoopThread("SocketMap.Add (a channel joining the map)");
        if (!_channels.ContainsKey(fd))
        {
            AsyncoreMetrics.Open.Add(1);
        }

        _channels[fd] = channel;
        Reactor.Register(fd, channel);
    }

    /// <summary>Removes the channel registered under a descriptor.</summary>
    /// <param name="fd">The descriptor.</param>
    /// <returns>Whether there was one.</returns>
    /// <remarks>Python: del socket_map[fd]</remarks>
    public bool Remove(nint fd)
    {
        Reactor.CheckLoopThread("SocketMap.Remove (a channel leaving the map)");
        if (!_channels.Remove(fd))
        {
            return false;
        }

        AsyncoreMetrics.Open.Add(-1);
        Reactor.Unregister(fd);
        return true;
    }

    /// <summary>Empties the map without closing anything (see <see cref="EventLoop.CloseAll(SocketMap?, bool)"/>).</summary>
    /// <remarks>Python: socket_map.clear()</remarks>
    public void Clear()
    {
        Reactor.CheckLoopThread("SocketMap.Clear");
        AsyncoreMetrics.Open.Add(-_channels.Count);
        _channels.Clear();
        Reactor.UnregisterAll();
    }

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<nint, Dispatcher>> GetEnumerator() => _channels.ToList().GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Releases the loop's kernel resources (the epoll descriptor, the wake-up pair). The channels are left alone.</summary>
    public void Dispose() => Reactor.Dispose();
}
