namespace Asyncore.Framing;

/// <summary>
/// What <see cref="ChatFramer"/> drives: the terminator (read before every step, since callbacks
/// change it), and the two callbacks. <see cref="AsyncChat"/> implements it; tests use structs.
/// </summary>
internal interface IFramerTarget
{
    /// <summary>The current terminating condition; the framer writes the integer countdown back.</summary>
    Terminator Terminator { get; set; }

    /// <summary>Data before the terminator (a span over the framer's buffer, valid only during the call).</summary>
    void CollectIncomingData(ReadOnlySpan<byte> data);

    /// <summary>The terminating condition was met.</summary>
    void FoundTerminator();
}
