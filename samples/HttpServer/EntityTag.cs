using System.Buffers.Text;

namespace Asyncore.Samples.Http;

/// <summary>A file's validators: its ETag (nginx's form, "mtime-size" in hex) and how If-* lists match it.</summary>
internal static class EntityTag
{
    /// <summary>Writes "\"{mtime:x}-{size:x}\"" and returns its length.</summary>
    public static int Format(long mtimeSeconds, long size, Span<byte> destination)
    {
        destination[0] = (byte)'"';
        Utf8Formatter.TryFormat(mtimeSeconds, destination[1..], out int a, new System.Buffers.StandardFormat('x'));
        destination[1 + a] = (byte)'-';
        Utf8Formatter.TryFormat(size, destination[(2 + a)..], out int b, new System.Buffers.StandardFormat('x'));
        destination[2 + a + b] = (byte)'"';
        return 3 + a + b;
    }

    /// <summary>
    /// Whether a list of entity-tags ("*" or "tag, W/\"tag\", ...") names <paramref name="etag"/>:
    /// nginx's ngx_http_test_if_match. Weak comparison (If-None-Match) ignores a W/ prefix; strong
    /// comparison (If-Match) does not, so a weak tag never matches there.
    /// </summary>
    public static bool ListMatches(ReadOnlySpan<byte> list, ReadOnlySpan<byte> etag, bool weak)
    {
        if (list.Length == 1 && list[0] == '*')
        {
            return true;
        }

        while (!list.IsEmpty)
        {
            if (weak && list.Length > 2 && list[0] == 'W' && list[1] == '/')
            {
                list = list[2..];
            }

            if (list.StartsWith(etag))
            {
                ReadOnlySpan<byte> after = list[etag.Length..];
                int next = after.IndexOfAnyExcept(" \t"u8);
                if (next < 0 || after[next] == ',')
                {
                    return true;
                }
            }

            int comma = list.IndexOf((byte)',');
            if (comma < 0)
            {
                return false;
            }

            list = list[(comma + 1)..];
            int start = list.IndexOfAnyExcept(" \t,"u8);
            list = start < 0 ? [] : list[start..];
        }

        return false;
    }
}
