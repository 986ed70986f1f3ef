using System.Net;
using System.Text;

namespace Asyncore.Samples.Http;

/// <summary>The access log: one line per answer, in the common log format.</summary>
internal static class AccessLog
{
    /// <summary>Writes <c>host - - [time] "request line" status bytes</c>.</summary>
    public static void Write(TextWriter log, EndPoint peer, ReadOnlySpan<byte> requestLine, int status, long bytes)
    {
        string host = peer is IPEndPoint ip ? ip.Address.ToString() : peer.ToString() ?? "-";
        string line = requestLine.IsEmpty ? "-" : Escape(requestLine);
        log.WriteLine($"{host} - - [{DateTimeOffset.Now:dd/MMM/yyyy:HH:mm:ss zzz}] \"{line}\" {status} {bytes}");
    }

    /// <summary>
    /// The request line as nginx logs it: printable ASCII as is, and '"', '\' and every byte below
    /// 0x20 or above 0x7E as \xHH, so a client cannot write terminal escapes or a fake line into the log.
    /// </summary>
    public static string Escape(ReadOnlySpan<byte> raw)
    {
        var text = new StringBuilder(raw.Length + 16);
        foreach (byte b in raw)
        {
            if (b is >= 0x20 and <= 0x7e and not (byte)'"' and not (byte)'\\')
            {
                text.Append((char)b);
            }
            else
            {
                text.Append("\\x").Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return text.ToString();
    }
}
