using System.Globalization;
using System.Net;

namespace Asyncore.Samples.Http;

/// <summary>
/// The access log: one line per answer, in the common log format. The line is formatted into a
/// buffer of the loop thread's, the peer's address text is made once per connection and the time
/// text once a second (as nginx caches it), so logging an answer allocates nothing.
/// </summary>
internal static class AccessLog
{
    /// <summary>"02/Dec/2026:12:55:27 +00:00", the common log format's time.</summary>
    private const string TimeFormat = "dd/MMM/yyyy:HH:mm:ss zzz";

    [ThreadStatic]
    private static char[]? t_line;

    [ThreadStatic]
    private static char[]? t_time;

    [ThreadStatic]
    private static int t_timeLength;

    [ThreadStatic]
    private static long t_timeSecond;

    /// <summary>The peer's address as the log shows it (made once per connection).</summary>
    public static string Host(EndPoint peer) => peer is IPEndPoint ip ? ip.Address.ToString() : peer.ToString() ?? "-";

    /// <summary>Writes <c>host - - [time] "request line" status bytes</c>.</summary>
    public static void Write(TextWriter log, string host, ReadOnlySpan<byte> requestLine, int status, long bytes)
    {
        // Every request-line byte may become \xHH; the rest is the host, the time and two numbers.
        int most = host.Length + (4 * requestLine.Length) + 96;
        char[] line = t_line is { } reused && reused.Length >= most ? reused : (t_line = new char[Math.Max(most, 512)]);
        Span<char> to = line;
        int n = 0;
        Text(to, ref n, host);
        Text(to, ref n, " - - [");
        Text(to, ref n, Time());
        Text(to, ref n, "] \"");
        n += requestLine.IsEmpty ? Copy("-", to[n..]) : Escape(requestLine, to[n..]);
        Text(to, ref n, "\" ");
        status.TryFormat(to[n..], out int w, default, CultureInfo.InvariantCulture);
        n += w;
        to[n++] = ' ';
        bytes.TryFormat(to[n..], out w, default, CultureInfo.InvariantCulture);
        n += w;
        log.WriteLine(to[..n]);
    }

    /// <summary>
    /// The request line as nginx logs it: printable ASCII as is, and '"', '\' and every byte below
    /// 0x20 or above 0x7E as \xHH, so a client cannot write terminal escapes or a fake line into the log.
    /// </summary>
    public static string Escape(ReadOnlySpan<byte> raw)
    {
        char[] text = new char[4 * raw.Length];
        return new string(text, 0, Escape(raw, text));
    }

    /// <summary><see cref="Escape(ReadOnlySpan{byte})"/> into <paramref name="to"/>, which holds four characters a byte.</summary>
    /// <returns>The characters written.</returns>
    private static int Escape(ReadOnlySpan<byte> raw, Span<char> to)
    {
        int n = 0;
        foreach (byte b in raw)
        {
            if (b is >= 0x20 and <= 0x7e and not (byte)'"' and not (byte)'\\')
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

    private static char HexDigit(int d) => (char)(d < 10 ? '0' + d : 'A' + d - 10);

    /// <summary>Now as the log shows it, in local time; formatted again only when the second changes.</summary>
    private static ReadOnlySpan<char> Time()
    {
        DateTime utc = DateTime.UtcNow;
        long second = utc.Ticks / TimeSpan.TicksPerSecond;
        char[] time = t_time ??= new char[64];
        if (second != t_timeSecond || t_timeLength == 0)
        {
            new DateTimeOffset(utc).ToLocalTime().TryFormat(time, out t_timeLength, TimeFormat, CultureInfo.InvariantCulture);
            t_timeSecond = second;
        }

        return time.AsSpan(0, t_timeLength);
    }

    private static void Text(Span<char> to, ref int n, scoped ReadOnlySpan<char> text) => n += Copy(text, to[n..]);

    private static int Copy(scoped ReadOnlySpan<char> text, Span<char> to)
    {
        text.CopyTo(to);
        return text.Length;
    }
}
