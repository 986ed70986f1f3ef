using Asyncore;

namespace Asyncore.Samples.Http;

/// <summary>
/// Streams a file in 64 KiB blocks through one reused buffer: the channel asks for the next block
/// only after it has sent the previous one, so the buffer is free again by then.
/// </summary>
public sealed class FileProducer : IProducer, IDisposable
{
    private readonly byte[] _buffer = new byte[64 * 1024];
    private FileStream? _stream;

    public FileProducer(string path) =>
        _stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);

    public ReadOnlyMemory<byte> More()
    {
        if (_stream is null)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        int n = _stream.Read(_buffer);
        if (n == 0)
        {
            Dispose();
            return ReadOnlyMemory<byte>.Empty;
        }

        return _buffer.AsMemory(0, n);
    }

    public void Dispose()
    {
        _stream?.Dispose();
        _stream = null;
    }
}
