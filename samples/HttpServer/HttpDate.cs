using System.Globalization;

namespace Asyncore.Samples.Http;

/// <summary>HTTP dates (RFC 9110 5.6.7): the Date header, formatted once a second; Last-Modified; the If-* dates.</summary>
internal static class HttpDate
{
    /// <summary>IMF-fixdate, then the two obsolete forms every recipient must still read (RFC 850 and asctime).</summary>
    private static readonly string[] Formats =
    [
        "ddd, dd MMM yyyy HH:mm:ss 'GMT'",
        "dddd, dd-MMM-yy HH:mm:ss 'GMT'",
        "ddd MMM d HH:mm:ss yyyy",
    ];

    private sealed record Cached(long Second, byte[] Bytes);

    private static volatile Cached s_cached = new(-1, []);

    /// <summary>Now, as the Date header's value.</summary>
    public static byte[] Now()
    {
        DateTime now = DateTime.UtcNow;
        long second = now.Ticks / TimeSpan.TicksPerSecond; // the wall clock's second, so Date is never a second behind
        Cached c = s_cached;
        if (c.Second != second)
        {
            byte[] text = new byte[29];
            now.TryFormat(text, out _, "r", CultureInfo.InvariantCulture);
            c = new Cached(second, text);
            s_cached = c;
        }

        return c.Bytes;
    }

    /// <summary>Writes a Unix time as IMF-fixdate (29 bytes).</summary>
    public static int Format(long unixSeconds, Span<byte> destination)
    {
        DateTimeOffset.FromUnixTimeSeconds(unixSeconds).UtcDateTime.TryFormat(destination, out int written, "r", CultureInfo.InvariantCulture);
        return written;
    }

    /// <summary>Reads any of the three HTTP date forms; false for anything else (the header is then ignored).</summary>
    public static bool TryParse(ReadOnlySpan<byte> value, out long unixSeconds)
    {
        unixSeconds = 0;
        if (value.IsEmpty || value.Length > 64)
        {
            return false;
        }

        Span<char> text = stackalloc char[value.Length];
        for (int i = 0; i < value.Length; i++)
        {
            text[i] = (char)value[i];
        }

        if (!DateTime.TryParseExact(text, Formats, CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowInnerWhite, out DateTime when))
        {
            return false;
        }

        unixSeconds = new DateTimeOffset(when, TimeSpan.Zero).ToUnixTimeSeconds();
        return true;
    }
}
