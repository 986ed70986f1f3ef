using System.Collections.Concurrent;

namespace Asyncore.Transport;

/// <summary>Tells channels whose <see cref="Dispatcher.Send"/> is the library's own from those that override it.</summary>
internal static class SendKind
{
    private static readonly ConcurrentDictionary<Type, bool> s_libraryOwned = new();

    private delegate int SpanSend(ReadOnlySpan<byte> data);

    /// <summary>
    /// Whether <paramref name="channel"/>'s <see cref="Dispatcher.Send"/> is the library's: only then may
    /// the transport send a file region without passing its bytes through <c>Send</c> (a subclass that
    /// overrides it, to count, transform or record what it sends, sees every byte).
    /// </summary>
    internal static bool IsLibraryOwned(Dispatcher channel) => s_libraryOwned.GetOrAdd(channel.GetType(), static (_, self) =>
        // A delegate to a virtual method binds the most-derived override.
        new SpanSend(self.Send).Method.DeclaringType == typeof(Dispatcher), channel);
}
