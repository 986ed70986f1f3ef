namespace Asyncore;

/// <summary>
/// A source of outgoing data for <see cref="AsyncChat.PushWithProducer"/>: the channel calls
/// <see cref="More"/> whenever it needs more bytes to send, until it returns empty.
/// </summary>
/// <remarks>Python: the producer protocol (an object with more())</remarks>
public interface IProducer
{
    /// <summary>The next bytes to send; empty when the producer is exhausted.</summary>
    /// <returns>The bytes. The channel reads them until they are sent, so they must not change before then.</returns>
    /// <remarks>Python: producer.more()</remarks>
    ReadOnlyMemory<byte> More();
}
