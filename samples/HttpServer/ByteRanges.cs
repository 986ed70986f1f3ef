namespace Asyncore.Samples.Http;

/// <summary>What a Range header asks of a representation of a known length.</summary>
internal enum RangeKind
{
    /// <summary>Send the whole representation (200): no byte range, several ranges, or one that covers nothing at offset 0.</summary>
    Whole,

    /// <summary>Send one part (206).</summary>
    Single,

    /// <summary>No range overlaps the representation, or the header is malformed (416).</summary>
    Unsatisfiable,
}

/// <summary>
/// Byte ranges (RFC 9110 14.1.2), read the way nginx's range filter reads them: "a-b", "a-" and
/// "-n"; a malformed list is unsatisfiable (416); a unit other than bytes is ignored (200). Of the
/// listed ranges only the satisfiable ones count: one gives a 206, several give the whole file
/// (200) instead of nginx's multipart/byteranges.
/// </summary>
internal static class ByteRanges
{
    /// <param name="value">The Range header's value.</param>
    /// <param name="length">The representation's length.</param>
    /// <param name="start">The single range's first byte.</param>
    /// <param name="count">The single range's length.</param>
    public static RangeKind Parse(ReadOnlySpan<byte> value, long length, out long start, out long count)
    {
        RangeKind kind = Read(value, length, out start, out count);
        if (kind != RangeKind.Single)
        {
            start = 0;
            count = length;
        }

        return kind;
    }

    private static RangeKind Read(ReadOnlySpan<byte> value, long length, out long start, out long count)
    {
        start = 0;
        count = length;
        if (value.Length < 7 || !System.Text.Ascii.EqualsIgnoreCase(value[..6], "bytes="u8))
        {
            return RangeKind.Whole;
        }

        int satisfiable = 0;
        ReadOnlySpan<byte> p = value[6..];
        while (true)
        {
            p = SkipSpaces(p);
            long first, end; // end is exclusive
            if (!p.IsEmpty && p[0] == '-')
            {
                if (!TryNumber(SkipSpaces(p[1..]), out long suffix, out p))
                {
                    return RangeKind.Unsatisfiable;
                }

                first = suffix < length ? length - suffix : 0;
                end = length;
            }
            else
            {
                if (!TryNumber(p, out first, out p))
                {
                    return RangeKind.Unsatisfiable;
                }

                p = SkipSpaces(p);
                if (p.IsEmpty || p[0] != '-')
                {
                    return RangeKind.Unsatisfiable;
                }

                p = SkipSpaces(p[1..]);
                if (p.IsEmpty || p[0] == ',')
                {
                    end = length;
                }
                else
                {
                    if (!TryNumber(p, out long last, out p))
                    {
                        return RangeKind.Unsatisfiable;
                    }

                    end = last >= length ? length : last + 1;
                }
            }

            p = SkipSpaces(p);
            if (!p.IsEmpty && p[0] != ',')
            {
                return RangeKind.Unsatisfiable;
            }

            if (first < end)
            {
                if (satisfiable++ == 0)
                {
                    start = first;
                    count = end - first;
                }
            }
            else if (first == 0)
            {
                return RangeKind.Whole; // e.g. "bytes=0-" of an empty file (nginx)
            }

            if (p.IsEmpty)
            {
                break;
            }

            p = p[1..];
        }

        return satisfiable switch
        {
            0 => RangeKind.Unsatisfiable,
            1 => RangeKind.Single,
            _ => RangeKind.Whole,
        };
    }

    private static ReadOnlySpan<byte> SkipSpaces(ReadOnlySpan<byte> p)
    {
        int i = p.IndexOfAnyExcept((byte)' ');
        return i < 0 ? [] : p[i..];
    }

    /// <summary>Decimal digits (at least one), without overflow.</summary>
    private static bool TryNumber(ReadOnlySpan<byte> p, out long value, out ReadOnlySpan<byte> rest)
    {
        value = 0;
        int i = 0;
        while (i < p.Length && p[i] is >= (byte)'0' and <= (byte)'9')
        {
            if (value > (long.MaxValue - 9) / 10)
            {
                rest = p;
                return false;
            }

            value = (value * 10) + (p[i] - '0');
            i++;
        }

        rest = p[i..];
        return i > 0;
    }
}
