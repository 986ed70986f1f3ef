using System.Net.Security;
using System.Net.Sockets;
using Asyncore;

namespace Asyncore.Samples.Http;

/// <summary>
/// HTTPS: TLS starts once the client's first byte shows it speaks TLS. As nginx does, the byte is
/// peeked (left in the socket for the handshake): a TLS record starts with 0x16; a letter is a plain
/// HTTP request sent to the HTTPS port, answered "400 The plain HTTP request was sent to HTTPS port"
/// in plain text and closed, where a TLS handshake would only fail and close without a word.
/// </summary>
public sealed partial class HttpRequestHandler
{
    private SslServerAuthenticationOptions? _awaitingHello;
    private LoopTimer? _helloTimer;

    /// <summary>Waits for the client's first byte, then starts TLS, or answers plain HTTP with 400.</summary>
    internal void StartTlsAtFirstByte(SslServerAuthenticationOptions tls)
    {
        _awaitingHello = tls;
        // A client that sends nothing is closed as a request head that never comes would be.
        _helloTimer = Map.CallLater(_options.RequestTimeout ?? TimeSpan.FromSeconds(10), () =>
        {
            if (_awaitingHello is not null)
            {
                Close();
            }
        });
    }

    /// <summary>Peeks at the first byte: TLS, plain HTTP, or the end of the connection.</summary>
    /// <returns>Whether the connection is past the peek (TLS started, or answered).</returns>
    private bool PeekFirstByte(SslServerAuthenticationOptions tls)
    {
        Span<byte> first = stackalloc byte[1];
        int n;
        try
        {
            n = Socket!.Receive(first, SocketFlags.Peek);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
        {
            return false;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Close();
            return false;
        }

        if (n == 0)
        {
            Close(); // gone before a word
            return false;
        }

        _awaitingHello = null;
        _helloTimer?.Cancel();
        _helloTimer = null;
        if (char.IsAsciiLetter((char)first[0]))
        {
            Fail(400, "The plain HTTP request was sent to HTTPS port");
            return true;
        }

        StartTls(tls); // the handshake reads the bytes peeked at, at the next readiness
        return true;
    }
}
