using System.Net;

namespace Asyncore.Samples.Smtp;

/// <summary>The envelope of one mail transaction: who sent it (empty for a bounce's null reverse-path "&lt;&gt;"), to whom, with which MAIL parameters.</summary>
public sealed record SmtpEnvelope(EndPoint Peer, string MailFrom, IReadOnlyList<string> RcptTos, IReadOnlyList<string> MailOptions)
{
    /// <summary>
    /// The server's line for a stored message: <c>peer: &lt;from&gt; -&gt; &lt;to&gt;, ..., N bytes -&gt; name</c>.
    /// The addresses are the client's words (the channel refuses control characters in them, and this
    /// line escapes every byte outside printable ASCII as \xHH all the same, as nginx's log does), so the
    /// line is one line whatever the client sent.
    /// </summary>
    public string LogLine(long bytes, string name) =>
        $"{LogEscape.Escape(Peer.ToString() ?? "-")}: <{LogEscape.Escape(MailFrom)}> -> "
        + string.Join(", ", RcptTos.Select(r => $"<{LogEscape.Escape(r)}>"))
        + $", {bytes} bytes -> {LogEscape.Escape(name)}";
}

/// <summary>Where received messages go. <see cref="Begin"/> runs when DATA is accepted, before the 354.</summary>
public interface IMessageStore
{
    /// <summary>Starts a message; the channel writes its bytes as they arrive, then commits or aborts it.</summary>
    IMessageWriter Begin(SmtpEnvelope envelope);
}

/// <summary>One message being received: dot-unstuffed bytes with their CRLF line ends, exactly as sent.</summary>
public interface IMessageWriter
{
    /// <summary>The next bytes of the message.</summary>
    void Write(ReadOnlySpan<byte> data);

    /// <summary>The end of data arrived: makes the message visible and returns a name for it (for the log). Throws if it could not be stored.</summary>
    string Commit();

    /// <summary>The message will not be completed (the client left, timed out, sent too much, or a write failed): drop what was written.</summary>
    void Abort();
}
