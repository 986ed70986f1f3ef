using System.Collections.Concurrent;

namespace Asyncore.Reactor;

/// <summary>
/// Tells channels whose virtual members are the library's own from those that override them:
/// Readable()/Writable() (the predicates), Send and Recv. Worked out once per channel type.
/// </summary>
internal static class PredicateKind
{
    private static readonly ConcurrentDictionary<Type, Owned> s_owned = new();

    private delegate int SpanSend(ReadOnlySpan<byte> data);

    private delegate int SpanRecv(Span<byte> buffer);

    [Flags]
    private enum Owned
    {
        None = 0,
        Predicates = 1,
        Send = 2,
        Recv = 4,
    }

    /// <summary>
    /// Whether <paramref name="channel"/>'s predicates are the library's own, so their answers change
    /// only through library code, which calls <see cref="Dispatcher.InterestChanged"/>: such channels
    /// are asked only when marked, the others on every pass (CPython's rule).
    /// </summary>
    internal static bool IsLibraryOwned(Dispatcher channel) => (Of(channel) & Owned.Predicates) != 0;

    /// <summary>
    /// Whether <paramref name="channel"/>'s <see cref="Dispatcher.Send"/> is the library's: only then may
    /// the transport send a file region without passing its bytes through <c>Send</c> (a subclass that
    /// overrides it, to count, transform or record what it sends, sees every byte).
    /// </summary>
    internal static bool SendIsLibraryOwned(Dispatcher channel) => (Of(channel) & Owned.Send) != 0;

    /// <summary>Whether <paramref name="channel"/>'s <see cref="Dispatcher.Recv(Span{byte})"/> is the library's: only then may the library read more than the channel's buffer size at once.</summary>
    internal static bool RecvIsLibraryOwned(Dispatcher channel) => (Of(channel) & Owned.Recv) != 0;

    private static Owned Of(Dispatcher channel) => s_owned.GetOrAdd(channel.GetType(), static (_, self) =>
        // A delegate to a virtual method binds the most-derived override.
        (IsLibraryType(new Func<bool>(self.Readable).Method.DeclaringType) && IsLibraryType(new Func<bool>(self.Writable).Method.DeclaringType) ? Owned.Predicates : Owned.None)
        | (new SpanSend(self.Send).Method.DeclaringType == typeof(Dispatcher) ? Owned.Send : Owned.None)
        | (new SpanRecv(self.Recv).Method.DeclaringType == typeof(Dispatcher) ? Owned.Recv : Owned.None), channel);

    private static bool IsLibraryType(Type? t) => t == typeof(Dispatcher) || t == typeof(AsyncChat);
}
