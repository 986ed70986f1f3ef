using System.Buffers;

namespace Asyncore.Framing;

/// <summary>
/// async_chat's input side without a socket: a buffer that reads land in, and the loop of
/// async_chat.handle_read over it. The only bytes kept between reads are a prefix of a byte
/// terminator seen at the end of a read ("examined, not consumed"), so memory is bounded by the
/// read size plus the terminator; everything else goes to CollectIncomingData as it arrives, as a
/// span over the buffer. The buffer comes from <see cref="ArrayPool{T}.Shared"/> for each read and
/// goes back as soon as nothing is carried, so an idle channel holds none.
/// </summary>
internal sealed class ChatFramer
{
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private int _discards;
    private bool _halted;
    private bool _held;

    /// <summary>Bytes received and not yet handed on (the carried terminator prefix, between reads).</summary>
    internal int Buffered => _end - _start;

    /// <summary>The bytes received and not yet handed on.</summary>
    internal ReadOnlySpan<byte> Unread => _buffer.AsSpan(_start, _end - _start);

    /// <summary>
    /// Room for the next read of up to <paramref name="size"/> bytes, right after the carried bytes,
    /// so carry + new data is one span with no concatenation.
    /// </summary>
    internal Span<byte> PrepareRead(int size)
    {
        int carry = _end - _start;
        int need = carry + size;
        if (_buffer is null || _buffer.Length < need)
        {
            byte[] next = ArrayPool<byte>.Shared.Rent(need);
            if (_buffer is not null)
            {
                _buffer.AsSpan(_start, carry).CopyTo(next);
                ArrayPool<byte>.Shared.Return(_buffer);
            }

            _buffer = next;
        }
        else if (_start > 0 && carry > 0)
        {
            _buffer.AsSpan(_start, carry).CopyTo(_buffer);
        }

        _start = 0;
        _end = carry;
        _halted = false;
        return _buffer.AsSpan(carry, size);
    }

    /// <summary><paramref name="count"/> bytes were read into the span <see cref="PrepareRead"/> gave.</summary>
    internal void Commit(int count) => _end += count;

    /// <summary>Drops the first <paramref name="count"/> unread bytes (taken by a step before framing, such as a PROXY header).</summary>
    internal void Skip(int count) => _start += count;

    /// <summary>Drops everything received and not yet handed on; a running <see cref="Feed{T}(ref T)"/> stops.</summary>
    internal void Discard()
    {
        _start = _end = 0;
        _discards++;
    }

    /// <summary>
    /// The channel closed from a callback: a running <see cref="Feed{T}(ref T)"/> makes no further
    /// call, and the unread bytes are dropped (Twisted's <c>LineReceiver</c> stops the same way once
    /// its transport is disconnecting). CPython's handle_read loop goes on over its buffer instead.
    /// </summary>
    internal void Halt()
    {
        _start = _end = 0;
        _discards++;
        _halted = true;
    }

    /// <summary>Whether framing is held: <see cref="Feed{T}(ref T)"/> stops before the next step and keeps the unread bytes.</summary>
    internal bool Held => _held;

    /// <summary>
    /// Holds framing: a running <see cref="Feed{T}(ref T)"/> returns after the current callback, and
    /// no later one makes a step, until <see cref="Resume"/>; the unread bytes stay, in order.
    /// </summary>
    internal void Hold() => _held = true;

    /// <summary>Ends a <see cref="Hold"/>: the next <see cref="Feed{T}(ref T)"/> goes on from where the held one stopped.</summary>
    internal void Resume() => _held = false;

    /// <summary>Gives the buffer back to the pool when nothing is carried.</summary>
    internal void ReleaseIfEmpty()
    {
        if (_start == _end)
        {
            Release();
        }
    }

    /// <summary>Gives the buffer back to the pool, dropping any carried bytes.</summary>
    internal void Release()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }

        _start = _end = 0;
    }

    /// <summary>Copies <paramref name="chunk"/> in as one read and feeds it (for tests and tools without a socket).</summary>
    internal void Feed<T>(ReadOnlySpan<byte> chunk, ref T target) where T : IFramerTarget
    {
        chunk.CopyTo(PrepareRead(chunk.Length));
        Commit(chunk.Length);
        Feed(ref target);
        ReleaseIfEmpty();
    }

    /// <summary>
    /// async_chat.handle_read's loop over the unread bytes: step by step, re-reading the terminator
    /// before each step because the callbacks may change it.
    /// </summary>
    internal void Feed<T>(ref T target) where T : IFramerTarget
    {
        while (_start < _end && !_halted && !_held)
        {
            Terminator terminator = target.Terminator;
            int length = _end - _start;
            ReadOnlySpan<byte> unread = _buffer.AsSpan(_start, length);
            int discards = _discards;

            if (terminator.CollectsAll)
            {
                // None, b'' or a count that reached 0: collect it all.
                target.CollectIncomingData(unread);
                _start = _end;
            }
            else if (terminator.Kind == TerminatorKind.Count)
            {
                long n = terminator.Count;
                if (length < n)
                {
                    target.CollectIncomingData(unread);
                    _start = _end;
                    // CPython: self.terminator = self.terminator - lb, read after the callback.
                    Terminator now = target.Terminator;
                    if (now.Kind == TerminatorKind.Count)
                    {
                        target.Terminator = now.WithCount(Math.Max(0, now.Count - length));
                    }
                }
                else
                {
                    int take = (int)n;
                    target.CollectIncomingData(unread[..take]);
                    if (discards == _discards)
                    {
                        _start += take;
                    }

                    // CPython: the count stays at 0 (which then collects everything) until changed
                    // (TerminatorScannerTests.CountReachesZeroThenCollectsAll).
                    target.Terminator = terminator.WithCount(0);
                    if (_halted)
                    {
                        return;
                    }

                    target.FoundTerminator();
                }
            }
            else
            {
                ReadOnlySpan<byte> term = terminator.Bytes;
                int index = unread.IndexOf(term);
                if (index >= 0)
                {
                    if (index > 0)
                    {
                        // CPython: "don't bother reporting the empty string (source of subtle bugs)".
                        target.CollectIncomingData(unread[..index]);
                    }

                    if (discards == _discards)
                    {
                        _start += index + term.Length;
                    }

                    if (_halted)
                    {
                        return;
                    }

                    // Whatever follows the terminator is read with the terminator as it is after this call.
                    target.FoundTerminator();
                }
                else
                {
                    int prefix = FindPrefixAtEnd(unread, term);
                    if (prefix > 0)
                    {
                        if (prefix != length)
                        {
                            target.CollectIncomingData(unread[..(length - prefix)]);
                            if (discards == _discards)
                            {
                                _start = _end - prefix;
                            }
                        }

                        // Keep the prefix: the next read decides whether it starts a terminator.
                        break;
                    }

                    target.CollectIncomingData(unread);
                    _start = _end;
                }
            }

            if (discards != _discards)
            {
                // DiscardBuffers() from a callback: nothing is left to read.
                break;
            }
        }
    }

    /// <summary>
    /// The length of the longest proper prefix of <paramref name="needle"/> that
    /// <paramref name="haystack"/> ends with (0 when none).
    /// </summary>
    internal static int FindPrefixAtEnd(ReadOnlySpan<byte> haystack, ReadOnlySpan<byte> needle)
    {
        int l = needle.Length - 1;
        if (l <= 0 || haystack.IsEmpty || needle[..l].IndexOf(haystack[^1]) < 0)
        {
            return 0;
        }

        while (l > 0 && !haystack.EndsWith(needle[..l]))
        {
            l--;
        }

        return l;
    }
}
