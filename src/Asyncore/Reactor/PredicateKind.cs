using System.Collections.Concurrent;

namespace Asyncore.Reactor;

/// <summary>Tells channels whose Readable()/Writable() are the library's own from those that override them.</summary>
internal static class PredicateKind
{
    private static readonly ConcurrentDictionary<Type, bool> s_libraryOwned = new();

    /// <summary>
    /// Whether <paramref name="channel"/>'s predicates are the library's own, so their answers change
    /// only through library code, which calls <see cref="Dispatcher.InterestChanged"/>: such channels
    /// are asked only when marked, the others on every pass (CPython's rule).
    /// </summary>
    internal static bool IsLibraryOwned(Dispatcher channel) => s_libraryOwned.GetOrAdd(channel.GetType(), static (_, self) =>
        // A delegate to a virtual method binds the most-derived override.
        IsLibraryType(new Func<bool>(self.Readable).Method.DeclaringType) &&
        IsLibraryType(new Func<bool>(self.Writable).Method.DeclaringType), channel);

    private static bool IsLibraryType(Type? t) => t == typeof(Dispatcher) || t == typeof(AsyncChat);
}
