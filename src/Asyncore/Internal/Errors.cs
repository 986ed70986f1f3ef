using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Asyncore;

/// <summary>Error helpers: errno text, "peer went away" classification, cold-path throws.</summary>
internal static class Errors
{
    /// <summary>
    /// asyncore's _strerror: the operating system's text for an errno value, never empty.
    /// </summary>
    internal static string StrError(int errno)
    {
        string text;
        try
        {
            text = Marshal.GetPInvokeErrorMessage(errno);
        }
        catch (Exception)
        {
            text = string.Empty;
        }

        return string.IsNullOrEmpty(text) ? $"Unknown error {errno}" : text;
    }

    /// <summary>An <see cref="IOException"/> for a failed native call, carrying errno in HResult.</summary>
    internal static IOException IOError(int errno) => new($"[Errno {errno}] {StrError(errno)}", errno);

    /// <summary>
    /// asyncore's _DISCONNECTED: the errors that mean the peer (or our own socket) went away, so the
    /// channel is closed rather than reported. ECONNRESET, ENOTCONN, ESHUTDOWN, ECONNABORTED, EPIPE
    /// (which .NET reports as Shutdown) and EBADF (reported by .NET as OperationAborted or as a
    /// disposed socket).
    /// </summary>
    internal static bool IsDisconnect(SocketError error) => error is
        SocketError.ConnectionReset or
        SocketError.NotConnected or
        SocketError.Shutdown or
        SocketError.ConnectionAborted or
        SocketError.OperationAborted or
        SocketError.NotSocket;

    /// <summary>Whether an exception thrown by a socket call is one of <see cref="IsDisconnect(SocketError)"/>.</summary>
    internal static bool IsDisconnect(Exception e) =>
        e is ObjectDisposedException || (e is SocketException se && IsDisconnect(se.SocketErrorCode));

    internal static InvalidOperationException NoSocket() =>
        new("the dispatcher has no socket: call CreateSocket or SetSocket first");
}
