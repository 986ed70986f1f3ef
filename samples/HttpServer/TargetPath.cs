using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Asyncore.Samples.Http;

/// <summary>How a request path decoded.</summary>
internal enum PathStatus
{
    Ok,

    /// <summary>A broken %-escape, a NUL, or bytes that are not UTF-8: 400.</summary>
    BadRequest,

    /// <summary>A ".." segment or a backslash: the path would leave the root, 403.</summary>
    Forbidden,
}

/// <summary>The path of a request target: split from the query, %-decoded, read as UTF-8.</summary>
internal static class TargetPath
{
    /// <summary>The path part of a target (before '?' or '#'); "/" for an empty one.</summary>
    public static ReadOnlySpan<byte> PathOf(ReadOnlySpan<byte> target)
    {
        int q = target.IndexOfAny("?#"u8);
        ReadOnlySpan<byte> path = q < 0 ? target : target[..q];
        return path.IsEmpty ? "/"u8 : path;
    }

    /// <summary>The query with its '?' (empty when there is none).</summary>
    public static ReadOnlySpan<byte> QueryOf(ReadOnlySpan<byte> target)
    {
        int q = target.IndexOf((byte)'?');
        if (q < 0)
        {
            return [];
        }

        int hash = target[q..].IndexOf((byte)'#');
        return hash < 0 ? target[q..] : target.Slice(q, hash);
    }

    /// <summary>
    /// Decodes %XX escapes, then reads the bytes as UTF-8, so a raw "é" and "%C3%A9" name the same
    /// file and a lone "\xE9" (Latin-1) names none.
    /// </summary>
    /// <param name="path">The raw path, starting with '/'.</param>
    /// <param name="decoded">The path as text when <see cref="PathStatus.Ok"/>.</param>
    /// <returns>Whether the path may be served.</returns>
    public static PathStatus Decode(ReadOnlySpan<byte> path, out string decoded)
    {
        decoded = string.Empty;
        byte[]? rented = null;
        Span<byte> bytes = path.Length <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(path.Length));
        try
        {
            PathStatus status = Decode(path, bytes, out int length);
            if (status == PathStatus.Ok)
            {
                decoded = Encoding.UTF8.GetString(bytes[..length]);
            }

            return status;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary><see cref="Decode(ReadOnlySpan{byte}, out string)"/> into bytes: the UTF-8 path, without a string.</summary>
    /// <param name="path">The raw path, starting with '/'.</param>
    /// <param name="destination">At least as long as <paramref name="path"/>.</param>
    /// <param name="length">The decoded path's length in <paramref name="destination"/> when <see cref="PathStatus.Ok"/>.</param>
    /// <returns>Whether the path may be served.</returns>
    public static PathStatus Decode(ReadOnlySpan<byte> path, Span<byte> destination, out int length)
    {
        length = 0;
        int n = 0;
        for (int i = 0; i < path.Length; i++)
        {
            byte b = path[i];
            if (b == '%')
            {
                if (i + 2 >= path.Length || !TryHex(path[i + 1], out int hi) || !TryHex(path[i + 2], out int lo))
                {
                    return PathStatus.BadRequest;
                }

                b = (byte)((hi << 4) | lo);
                i += 2;
            }

            destination[n++] = b;
        }

        ReadOnlySpan<byte> raw = destination[..n];
        if (raw.IndexOf((byte)0) >= 0 || !Utf8.IsValid(raw))
        {
            return PathStatus.BadRequest;
        }

        if (raw.IndexOf((byte)'\\') >= 0 || Climbs(raw))
        {
            return PathStatus.Forbidden;
        }

        length = n;
        return PathStatus.Ok;
    }

    /// <summary>Whether any segment is "..".</summary>
    private static bool Climbs(ReadOnlySpan<byte> path)
    {
        foreach (Range segment in path.Split((byte)'/'))
        {
            if (path[segment].SequenceEqual(".."u8))
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryHex(byte c, out int value)
    {
        value = c switch
        {
            >= (byte)'0' and <= (byte)'9' => c - '0',
            >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
            >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
            _ => -1,
        };
        return value >= 0;
    }

    /// <summary>The raw path made fit for a Location header: bytes outside printable ASCII %-escaped.</summary>
    public static string ForLocation(ReadOnlySpan<byte> raw)
    {
        var text = new StringBuilder(raw.Length + 8);
        foreach (byte b in raw)
        {
            if (b is > 0x20 and < 0x7f)
            {
                text.Append((char)b);
            }
            else
            {
                text.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return text.ToString();
    }
}
