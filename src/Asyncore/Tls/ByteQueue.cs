using System.Buffers;

namespace Asyncore.Tls;

/// <summary>
/// A first-in first-out run of bytes in one array rented from <see cref="ArrayPool{T}.Shared"/>: appended
/// at the tail, taken at the head, moved to the front when the tail needs room. The array goes back to
/// the pool as soon as the queue is empty, so an idle connection holds none.
/// </summary>
internal sealed class ByteQueue
{
    private byte[]? _buffer;
    private int _start;
    private int _end;

    /// <summary>Bytes held.</summary>
    internal int Count => _end - _start;

    /// <summary>The bytes held, oldest first.</summary>
    internal ReadOnlySpan<byte> Span => _buffer.AsSpan(_start, _end - _start);

    /// <summary>Copies <paramref name="data"/> in at the tail.</summary>
    internal void Append(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        int count = Count;
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(data.Length, 4096));
            _start = _end = 0;
        }
        else if (_buffer.Length - _end < data.Length)
        {
            if (_buffer.Length - count >= data.Length && _start > 0)
            {
                _buffer.AsSpan(_start, count).CopyTo(_buffer);
            }
            else
            {
                byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(count + data.Length, _buffer.Length * 2));
                _buffer.AsSpan(_start, count).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = bigger;
            }

            _start = 0;
            _end = count;
        }

        data.CopyTo(_buffer.AsSpan(_end));
        _end += data.Length;
    }

    /// <summary>Copies up to <paramref name="destination"/>.Length bytes from the head and removes them.</summary>
    /// <returns>How many bytes were copied.</returns>
    internal int Take(Span<byte> destination)
    {
        int n = Math.Min(destination.Length, Count);
        if (n > 0)
        {
            _buffer.AsSpan(_start, n).CopyTo(destination);
            Consume(n);
        }

        return n;
    }

    /// <summary>Removes <paramref name="count"/> bytes from the head.</summary>
    internal void Consume(int count)
    {
        _start += count;
        if (_start == _end)
        {
            Clear();
        }
    }

    /// <summary>Drops everything and gives the array back to the pool.</summary>
    internal void Clear()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }

        _start = _end = 0;
    }
}
