namespace Asyncore;

/// <summary>Hands out a block of bytes <see cref="BufferSize"/> bytes at a time.</summary>
/// <remarks>Python: asynchat.simple_producer(data, buffer_size=512)</remarks>
public sealed class SimpleProducer : IProducer
{
    private ReadOnlyMemory<byte> _data;

    /// <summary>Creates the producer over <paramref name="data"/> (not copied).</summary>
    /// <param name="data">The bytes to hand out.</param>
    /// <param name="bufferSize">The most handed out per <see cref="More"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bufferSize"/> is not positive.</exception>
    /// <remarks>Python: simple_producer.__init__(data, buffer_size=512)</remarks>
    public SimpleProducer(ReadOnlyMemory<byte> data, int bufferSize = 512)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bufferSize);
        _data = data;
        BufferSize = bufferSize;
    }

    /// <summary>Creates the producer over <paramref name="data"/> (not copied).</summary>
    /// <param name="data">The bytes to hand out.</param>
    /// <param name="bufferSize">The most handed out per <see cref="More"/>.</param>
    /// <remarks>Python: simple_producer.__init__(data, buffer_size=512)</remarks>
    public SimpleProducer(byte[] data, int bufferSize = 512) : this(new ReadOnlyMemory<byte>(data), bufferSize)
    {
    }

    /// <summary>The most bytes handed out per call.</summary>
    /// <remarks>Python: simple_producer.buffer_size</remarks>
    public int BufferSize { get; }

    /// <summary>The next block; empty when done.</summary>
    /// <returns>Up to <see cref="BufferSize"/> bytes.</returns>
    /// <remarks>Python: simple_producer.more()</remarks>
    public ReadOnlyMemory<byte> More()
    {
        ReadOnlyMemory<byte> result;
        if (_data.Length > BufferSize)
        {
            result = _data[..BufferSize];
            _data = _data[BufferSize..];
        }
        else
        {
            result = _data;
            _data = ReadOnlyMemory<byte>.Empty;
        }

        return result;
    }
}
