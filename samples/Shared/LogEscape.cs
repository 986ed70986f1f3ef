using System.Text;

namespace Asyncore.Samples;

/// <summary>
/// What a client sent, made safe for a log line, as nginx escapes its access log: printable ASCII
/// stays as it is; '"', '\' and every byte below 0x20 or above 0x7E (CR, LF, ESC, DEL, and each
/// byte of UTF-8 or of invalid UTF-8) become \xHH. A log line so written is one line, holds no
/// terminal escape, and shows the bytes that came, so a client cannot forge another line or run
/// escape sequences in the terminal of whoever reads the log.
/// </summary>
internal static class LogEscape
{
    /// <summary>The escaped text of <paramref name="raw"/>.</summary>
    public static string Escape(ReadOnlySpan<byte> raw)
    {
        if (!NeedsEscape(raw))
        {
            return Encoding.ASCII.GetString(raw);
        }

        char[] text = new char[4 * raw.Length];
        return new string(text, 0, Escape(raw, text));
    }

    /// <summary>The escaped text of <paramref name="text"/>'s UTF-8 bytes (a lone surrogate is written as U+FFFD, EF BF BD).</summary>
    public static string Escape(string text)
    {
        foreach (char c in text)
        {
            if (c is < (char)0x20 or > (char)0x7e or '"' or '\\')
            {
                return Escape(Encoding.UTF8.GetBytes(text));
            }
        }

        return text;
    }

    /// <summary><see cref="Escape(ReadOnlySpan{byte})"/> into <paramref name="to"/>, which holds four characters a byte.</summary>
    /// <returns>The characters written.</returns>
    public static int Escape(ReadOnlySpan<byte> raw, Span<char> to)
    {
        int n = 0;
        foreach (byte b in raw)
        {
            if (IsPlain(b))
            {
                to[n++] = (char)b;
            }
            else
            {
                to[n++] = '\\';
                to[n++] = 'x';
                to[n++] = HexDigit(b >> 4);
                to[n++] = HexDigit(b & 0xf);
            }
        }

        return n;
    }

    private static bool NeedsEscape(ReadOnlySpan<byte> raw)
    {
        foreach (byte b in raw)
        {
            if (!IsPlain(b))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsPlain(byte b) => b is >= 0x20 and <= 0x7e and not (byte)'"' and not (byte)'\\';

    private static char HexDigit(int d) => (char)(d < 10 ? '0' + d : 'A' + d - 10);
}
