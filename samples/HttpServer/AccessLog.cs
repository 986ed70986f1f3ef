using System.Globalization;
using System.Net;

namespace Asyncore.Samples.Http;

/// <summary>
/// The access log: one line per answer, in nginx's default "combined" format
/// (<c>host - - [time] "request line" status bytes "referer" "user agent"</c>). Every field a client
/// chooses (the request line, Referer, User-Agent, and the address a PROXY header claims) is escaped
/// as nginx escapes it (<see cref="LogEscape"/>): CR, LF, ESC, '"', '\' and every byte outside
/// printable ASCII become \xHH, so a line is always one line and shows what came. The line is
/// formatted into a buffer of the loop thread's, the host text is made once per connection and the
/// time text once a second (as nginx caches it), so logging an answer allocates nothing.
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

    /// <summary>
    /// The peer's address as the log shows it (made once per connection): an IP address as text, or
    /// anything else (the AF_UNIX path a PROXY v2 header may carry, which is the client's to choose)
    /// escaped.
    /// </summary>
    public static string Host(EndPoint peer) => peer is IPEndPoint ip ? ip.Address.ToString() : LogEscape.Escape(peer.ToString() ?? "-");

    /// <summary>Writes <c>host - - [time] "request line" status bytes "referer" "user agent"</c>.</summary>
    public static void Write(TextWriter log, string host, ReadOnlySpan<byte> requestLine, int status, long bytes, ReadOnlySpan<byte> referer = default, ReadOnlySpan<byte> userAgent = default)
    {
        // Every client byte may become \xHH; the rest is the host, the time, two numbers and the quotes.
        int most = host.Length + (4 * (requestLine.Length + referer.Length + userAgent.Length)) + 128;
        char[] line = t_line is { } reused && reused.Length >= most ? reused : (t_line = new char[Math.Max(most, 512)]);
        Span<char> to = line;
        int n = 0;
        Text(to, ref n, host);
        Text(to, ref n, " - - [");
        Text(to, ref n, Time());
        Text(to, ref n, "] \"");
        Field(to, ref n, requestLine);
        Text(to, ref n, "\" ");
        status.TryFormat(to[n..], out int w, default, CultureInfo.InvariantCulture);
        n += w;
        to[n++] = ' ';
        bytes.TryFormat(to[n..], out w, default, CultureInfo.InvariantCulture);
        n += w;
        Text(to, ref n, " \"");
        Field(to, ref n, referer);
        Text(to, ref n, "\" \"");
        Field(to, ref n, userAgent);
        to[n++] = '"';
        log.WriteLine(to[..n]);
    }

    /// <summary>The request line (or any field) as the log shows it: see <see cref="LogEscape"/>.</summary>
    public static string Escape(ReadOnlySpan<byte> raw) => LogEscape.Escape(raw);

    /// <summary>A client's field, escaped; "-" when it is absent or empty, as nginx writes it.</summary>
    private static void Field(Span<char> to, ref int n, ReadOnlySpan<byte> raw) =>
        n += raw.IsEmpty ? Copy("-", to[n..]) : LogEscape.Escape(raw, to[n..]);

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
