using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Asyncore.Polling;
using Asyncore.Reactor;
using Asyncore.Tls;

namespace Asyncore;

/// <content>The TLS pump: ciphertext between the transport and the engine, plaintext to and from the channel.</content>
public partial class Dispatcher
{
    /// <summary>The socket is readable: drive the handshake. True when the application should read now.</summary>
    private bool TlsReadEvent(TlsSession s)
    {
        if (s.Established || s.ShutdownSent)
        {
            return true;
        }

        Span<byte> scratch = TlsScratch();
        int closes = CloseCount;
        while (true)
        {
            try
            {
                s.Engine.Handshake();
            }
            catch (Exception e) when (e is not ExitNowException)
            {
                TlsFail(e);
                return false;
            }

            TlsFlush(s);
            if (CloseCount != closes || s.Ended)
            {
                return false;
            }

            if (s.Engine.IsHandshakeComplete)
            {
                s.Established = true;
                s.HandshakeDeadline?.Clear();
                s.CaptureNegotiated();
                InterestChanged();
                HandleTlsHandshakeComplete();
                // The client's first request may have come with its last handshake record: read it now.
                return CloseCount == closes && !s.Ended;
            }

            if (s.HandshakeInput >= TlsSession.MaxHandshakeInput)
            {
                TlsFail(new AuthenticationException($"the TLS handshake brought more than {TlsSession.MaxHandshakeInput} bytes without completing"));
                return false;
            }

            int room = (int)Math.Min(scratch.Length, TlsSession.MaxHandshakeInput - s.HandshakeInput);
            int n = SocketRecvRaw(scratch[..room]);
            if (n == WouldBlock || n == TlsPeerGone)
            {
                return false;
            }

            if (n == 0)
            {
                TlsFail(new IOException("the peer closed the connection during the TLS handshake"));
                return false;
            }

            s.HandshakeInput += n;
            try
            {
                s.Engine.FeedInput(scratch[..n]);
            }
            catch (Exception e) when (e is not ExitNowException)
            {
                TlsFail(e);
                return false;
            }
        }
    }

    /// <summary>The socket is writable: send waiting ciphertext. True when the application may write now.</summary>
    private bool TlsWriteEvent(TlsSession s)
    {
        if (s.PlaintextOwed > 0)
        {
            return true;
        }

        return TlsFlush(s) && s.Established && !s.ShutdownSent;
    }

    /// <summary>The handshake failed or timed out: tell the channel, send the engine's alert if it has one, close.</summary>
    private void TlsFail(Exception error)
    {
        if (_tls is not { Ended: false } s || s.ShutdownSent)
        {
            return;
        }

        s.ShutdownSent = true;
        s.HandshakeDeadline?.Clear();
        AsyncoreMetrics.Failures.Add(1);
        TlsSendQuietly(s);
        try
        {
            HandleTlsHandshakeFailed(error);
        }
        finally
        {
            Close();
        }
    }

    private int TlsSend(TlsSession s, ReadOnlySpan<byte> data)
    {
        if (s.PlaintextOwed > 0)
        {
            // What was queued before the switch (STARTTLS's "go ahead") leaves in the clear, first.
            int plain = SocketSendRaw(data[..(int)Math.Min(data.Length, s.PlaintextOwed)]);
            if (plain <= 0)
            {
                return 0;
            }

            s.PlaintextOwed -= plain;
            if (s.PlaintextOwed == 0)
            {
                TlsFlush(s); // a client's hello waited for it
            }

            return plain;
        }

        if (!s.Established || s.ShutdownSent || !TlsFlush(s))
        {
            return 0;
        }

        int chunk = Math.Min(data.Length, TlsWriteChunk);
        try
        {
            s.Engine.Write(data[..chunk], out _);
        }
        catch (AuthenticationException e)
        {
            throw new IOException(e.Message, e);
        }

        TlsFlush(s);
        return chunk;
    }

    private int TlsRecv(TlsSession s, Span<byte> buffer)
    {
        if (s.ShutdownSent)
        {
            // Our close_notify is out and the channel lingers: what still comes is dropped by the caller.
            return SocketRecvResult(SocketRecvRaw(buffer));
        }

        if (!s.Established)
        {
            return WouldBlock;
        }

        int total = 0;
        bool fed = false;
        while (true)
        {
            bool peerClosed = false;
            while (total < buffer.Length)
            {
                TlsStatus status;
                int n;
                try
                {
                    status = s.Engine.Read(buffer[total..], out n);
                }
                catch (Exception e) when (e is AuthenticationException or CryptographicException or IOException)
                {
                    // The peer broke the protocol after the handshake (a renegotiation refused, a bad record,
                    // an alert): nginx logs one line and closes; so does the channel, as for a reset.
                    LogInfo($"{PeerText()}: TLS error, closing: {LogText.Escape(e.Message)}", "info");
                    AsyncoreMetrics.Failures.Add(1);
                    NotifyClose();
                    return SocketRecvResult(TlsPeerGone);
                }

                total += n;
                if (n == 0)
                {
                    peerClosed = status == TlsStatus.Closed;
                    break;
                }
            }

            if (s.Engine.PendingOutput > 0 && (!TlsFlush(s) && s.Ended))
            {
                return total;
            }

            if (total == buffer.Length || (peerClosed && total > 0))
            {
                // The engine may hold more plaintext, or the peer's close_notify, which no readiness event will announce.
                TlsRereadSoon(s);
                return total;
            }

            if (total > 0)
            {
                return total;
            }

            if (peerClosed)
            {
                return SocketRecvResult(0); // close_notify: the end of the stream
            }

            if (fed)
            {
                return WouldBlock;
            }

            Span<byte> scratch = TlsScratch();
            int raw = SocketRecvRaw(scratch);
            if (raw <= 0)
            {
                // A ragged end (no close_notify) is an end of stream too, as Python's suppress_ragged_eofs has it.
                return SocketRecvResult(raw);
            }

            s.Engine.FeedInput(scratch[..raw]);
            fed = true;
        }
    }

    /// <summary>Sends waiting ciphertext as far as the socket takes it.</summary>
    /// <returns>Whether nothing is left waiting.</returns>
    private bool TlsFlush(TlsSession s)
    {
        if (s.PlaintextOwed > 0)
        {
            return !s.OutputPending;
        }

        while (!s.Ended)
        {
            if (s.Unsent.Count > 0)
            {
                int n = SocketSendRaw(s.Unsent.Span);
                if (n < 0 || s.Ended)
                {
                    return false;
                }

                s.Unsent.Consume(n);
                if (s.Unsent.Count > 0)
                {
                    return false;
                }
            }

            if (s.Engine.PendingOutput == 0)
            {
                return true;
            }

            Span<byte> scratch = TlsScratch();
            int taken = s.Engine.TakeOutput(scratch);
            int sent = SocketSendRaw(scratch[..taken]);
            if (s.Ended)
            {
                return false;
            }

            sent = Math.Max(sent, 0);
            if (sent < taken)
            {
                s.Unsent.Append(scratch[sent..taken]);
                return false;
            }
        }

        return false;
    }

    /// <summary>One attempt to send what is waiting, for the close and failure paths: errors are ignored and nobody is told.</summary>
    private void TlsSendQuietly(TlsSession s)
    {
        if (Socket is not { } socket || s.Ended || s.PlaintextOwed > 0)
        {
            return;
        }

        try
        {
            if (s.Unsent.Count > 0)
            {
                int n = socket.Send(s.Unsent.Span, SocketFlags.None, out SocketError error);
                if (error != SocketError.Success || n < s.Unsent.Count)
                {
                    return;
                }

                s.Unsent.Clear();
            }

            Span<byte> scratch = TlsScratch();
            while (s.Engine.PendingOutput > 0)
            {
                int taken = s.Engine.TakeOutput(scratch);
                int n = socket.Send(scratch[..taken], SocketFlags.None, out SocketError error);
                if (error != SocketError.Success || n < taken)
                {
                    return;
                }
            }
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Queues close_notify and tries once to send it (a closing or lingering channel).</summary>
    internal void TlsCloseNotify()
    {
        if (_tls is { Ended: false, Established: true, ShutdownSent: false } s)
        {
            s.ShutdownSent = true;
            try
            {
                s.Engine.Shutdown();
            }
            catch (Exception e) when (e is IOException or AuthenticationException or CryptographicException or InvalidOperationException or ObjectDisposedException)
            {
                // close_notify is a courtesy: an engine that cannot send it (a session stuck in a refused
                // renegotiation) must not keep the channel from closing.
            }

            TlsSendQuietly(s);
        }
    }

    /// <summary>The channel closes: close_notify goes out if the session was established, and the engine is disposed.</summary>
    private void CloseTls()
    {
        if (_tls is { Ended: false } s)
        {
            try
            {
                TlsCloseNotify();
            }
            finally
            {
                s.End();
            }
        }
    }

    /// <summary>Reads the channel again at the end of this pass (or the start of the next), without a readiness event.</summary>
    private void TlsRereadSoon(TlsSession s)
    {
        s.Reread ??= new Deadline(() => Guard(TlsReread));
        s.Reread.Set(_map.Reactor.Timers, Deadline.Now);
    }

    /// <summary>Library state behind the predicates changed: a channel that was not readable may be now.</summary>
    private void TlsInterestChanged(TlsSession s)
    {
        s.RereadWhenReadable = false;
        TlsRereadSoon(s);
    }

    private void TlsReread()
    {
        if (_tls is not { Ended: false, Established: true } s || _fileno < 0 || !Connected)
        {
            return;
        }

        if (EventDispatch.Ask(this, writable: false))
        {
            EventDispatch.Read(this);
        }
        else if (PredicateKind.IsLibraryOwned(this))
        {
            s.RereadWhenReadable = true; // InterestChanged brings it back
        }
        else
        {
            s.Reread!.Set(_map.Reactor.Timers, Deadline.After(Deadline.Now, TlsReadablePollInterval));
        }
    }

    private static Span<byte> TlsScratch() => t_tlsScratch ??= new byte[TlsScratchSize];
}
