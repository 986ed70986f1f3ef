namespace Asyncore;

/// <summary>The three kinds of terminating condition.</summary>
/// <remarks>Python: the type of async_chat.terminator (bytes, int or None)</remarks>
public enum TerminatorKind
{
    /// <summary>No terminator: collect forever.</summary>
    None = 0,

    /// <summary>A byte string that ends each message; it is dropped from the data.</summary>
    Bytes = 1,

    /// <summary>A number of bytes still to collect; it counts down as data arrives.</summary>
    Count = 2,
}
