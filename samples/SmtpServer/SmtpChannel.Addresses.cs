namespace Asyncore.Samples.Smtp;

/// <summary>Mailbox addresses as MAIL FROM, RCPT TO and VRFY take them, and the checks for control characters.</summary>
public sealed partial class SmtpChannel
{
    private enum AddressKind
    {
        Sender,
        Recipient,
    }

    /// <summary>
    /// An address in angle brackets or a bare addr-spec; the rest of the line goes to <paramref name="rest"/>.
    /// A sender may be empty ("&lt;&gt;", the null reverse-path of bounces); a recipient may be a bare
    /// "postmaster" (RFC 5321 4.5.1); a source route ("@relay:") is accepted and dropped (4.1.2).
    /// Control characters (CR and LF included) make it invalid: such an address is never stored or logged.
    /// </summary>
    private static string? ParseAddress(string text, AddressKind kind, out string rest)
    {
        text = text.TrimStart(' ');
        rest = string.Empty;
        string address;
        bool bracketed = text.StartsWith('<');
        if (bracketed)
        {
            int close = text.IndexOf('>');
            if (close < 0)
            {
                return null;
            }

            address = text[1..close];
            rest = text[(close + 1)..].Trim(' ');
        }
        else
        {
            int sp = text.IndexOf(' ');
            address = sp < 0 ? text : text[..sp];
            rest = sp < 0 ? string.Empty : text[(sp + 1)..].Trim(' ');
        }

        if (HasControl(address) || address.Length > 256)
        {
            return null;
        }

        if (address.StartsWith('@'))
        {
            int colon = address.IndexOf(':');
            if (colon < 0)
            {
                return null;
            }

            address = address[(colon + 1)..];
        }

        if (address.Length == 0)
        {
            return kind == AddressKind.Sender && bracketed ? string.Empty : null;
        }

        if (kind == AddressKind.Recipient && address.Equals("postmaster", StringComparison.OrdinalIgnoreCase))
        {
            return address;
        }

        int at = address.LastIndexOf('@');
        bool ok = at > 0 && at < address.Length - 1 && address.IndexOfAny([' ', '<', '>', '\t']) < 0;
        return ok ? address : null;
    }

    private static bool HasControl(string text) => text.Any(char.IsControl);

    private static string Printable(string text) => string.Concat(text.Select(c => char.IsControl(c) ? '?' : c));
}
