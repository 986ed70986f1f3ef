using System.Globalization;
using System.Text;

namespace Asyncore.Samples.Http;

/// <summary>The Date header value (RFC 9110 IMF-fixdate), formatted once a second.</summary>
internal static class HttpDate
{
    private sealed record Cached(long Second, byte[] Bytes);

    private static volatile Cached s_cached = new(-1, []);

    public static ReadOnlySpan<byte> Now()
    {
        long second = Environment.TickCount64 / 1000;
        Cached c = s_cached;
        if (c.Second != second)
        {
            c = new Cached(second, Encoding.ASCII.GetBytes(DateTime.UtcNow.ToString("r", CultureInfo.InvariantCulture)));
            s_cached = c;
        }

        return c.Bytes;
    }
}
