using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Asyncore;

public partial class Dispatcher
{
    /// <summary>Writes a line to standard error, <c>log: message</c>, or to the map's <see cref="SocketMap.Logger"/> at Debug level.</summary>
    /// <param name="message">The text.</param>
    /// <remarks>Python: dispatcher.log(message)</remarks>
    public virtual void Log(string message)
    {
        if (_map.Logger is { } logger)
        {
            logger.LogDebug("{Channel}: {Message}", this, message);
        }
        else
        {
            Console.Error.WriteLine($"log: {message}");
        }
    }

    /// <summary>
    /// Writes <c>type: message</c> to standard output unless <paramref name="type"/> is in
    /// <see cref="IgnoreLogTypes"/>; with a <see cref="SocketMap.Logger"/>, logs it there instead
    /// ("warning" at Warning, "error" at Error, anything else at Information).
    /// </summary>
    /// <param name="message">The text.</param>
    /// <param name="type">"info", "warning", "error" or any word.</param>
    /// <remarks>Python: dispatcher.log_info(message, type='info')</remarks>
    public virtual void LogInfo(string message, string type = "info")
    {
        if (IgnoreLogTypes.Contains(type))
        {
            return;
        }

        if (_map.Logger is { } logger)
        {
            LogLevel level = type switch
            {
                "warning" => LogLevel.Warning,
                "error" => LogLevel.Error,
                _ => LogLevel.Information,
            };
            logger.Log(level, "{Channel}: {Message}", this, message);
        }
        else
        {
            Console.Out.WriteLine($"{type}: {message}");
        }
    }

    /// <summary>The loop saw the socket readable: accept, finish a connect, or read.</summary>
    /// <remarks>Python: dispatcher.handle_read_event()</remarks>
    protected internal virtual void HandleReadEvent()
    {
        if (Accepting)
        {
            // A listening socket is readable when a connection is waiting.
            AcceptGuarded();
        }
        else if (!Connected)
        {
            if (Connecting)
            {
                HandleConnectEvent();
            }

            if (_tls is not { Ended: false } tls || TlsReadEvent(tls))
            {
                HandleRead();
            }
        }
        else if (_tls is not { Ended: false } tls || TlsReadEvent(tls))
        {
            HandleRead();
        }
    }

    /// <summary>A connect finished: throw its error if it failed, else call <see cref="HandleConnect"/> and mark the channel connected.</summary>
    /// <exception cref="SocketException">The connect failed (for example, refused).</exception>
    /// <remarks>Python: dispatcher.handle_connect_event()</remarks>
    protected internal virtual void HandleConnectEvent()
    {
        int error = PendingError();
        if (error != 0)
        {
            throw new SocketException(error);
        }

        HandleConnect();
        Connected = true;
        Connecting = false;
    }

    /// <summary>The loop saw the socket writable: finish a connect, then write.</summary>
    /// <remarks>Python: dispatcher.handle_write_event()</remarks>
    protected internal virtual void HandleWriteEvent()
    {
        if (Accepting)
        {
            // Listening sockets are never watched for writing; ignore a stray event.
            return;
        }

        if (!Connected && Connecting)
        {
            HandleConnectEvent();
        }

        if (_tls is { Ended: false } tls && !TlsWriteEvent(tls))
        {
            return; // ciphertext still waiting, or the handshake is under way
        }

        HandleWrite();
    }

    /// <summary>The loop saw an exceptional condition: a pending socket error closes the channel, otherwise priority (out-of-band) data arrived.</summary>
    /// <remarks>Python: dispatcher.handle_expt_event()</remarks>
    protected internal virtual void HandleExptEvent()
    {
        if (PendingError() != 0)
        {
            NotifyClose();
        }
        else
        {
            HandleExpt();
        }
    }

    /// <summary>
    /// A callback threw. By default logs the exception, with its stack, as an "error" and closes the channel.
    /// </summary>
    /// <param name="exception">What was thrown.</param>
    /// <remarks>Python: dispatcher.handle_error()</remarks>
    protected internal virtual void HandleError(Exception exception)
    {
        string self;
        try
        {
            self = ToString();
        }
        catch (Exception)
        {
            self = $"<ToString() failed for object at 0x{System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this):x}>";
        }

        if (_map.Logger is { } logger)
        {
            // The exception object itself, with its stack, for structured logging.
            logger.LogError(exception, "Uncaptured exception, closing channel {Channel}", self);
        }
        else
        {
            // One line, as CPython's: the stack as compact_traceback's [file|function|line] entries.
            (_, _, _, string info) = CompactTraceback(exception);
            LogInfo($"uncaptured exception, closing channel {self} ({exception.GetType()}:{OneLine(exception.Message)} {info})", "error");
        }

        NotifyClose();
    }

    /// <summary>
    /// An exception's stack in one line: the innermost frame, and every frame as
    /// <c>[file|function|line]</c>, outermost first (a frame without a file names its type).
    /// </summary>
    /// <param name="exception">A thrown exception.</param>
    /// <returns>The innermost frame's file, function and line, and the whole stack as one line.</returns>
    /// <remarks>Python: asyncore.compact_traceback()</remarks>
    internal static (string File, string Function, int Line, string Info) CompactTraceback(Exception exception)
    {
        var trace = new System.Diagnostics.StackTrace(exception, fNeedFileInfo: true);
        System.Diagnostics.StackFrame[] frames = trace.GetFrames();
        if (frames.Length == 0)
        {
            return ("?", "?", 0, "[?|?|0]");
        }

        var info = new System.Text.StringBuilder();
        for (int i = frames.Length - 1; i >= 0; i--)
        {
            (string file, string function, int line) = Describe(frames[i]);
            if (info.Length > 0)
            {
                info.Append(' ');
            }

            info.Append('[').Append(file).Append('|').Append(function).Append('|').Append(line).Append(']');
        }

        // StackTrace lists the throwing frame first; CPython's info ends with it.
        (string File, string Function, int Line) innermost = Describe(frames[0]);
        return (innermost.File, innermost.Function, innermost.Line, info.ToString());
    }

    private static (string File, string Function, int Line) Describe(System.Diagnostics.StackFrame frame)
    {
        System.Diagnostics.DiagnosticMethodInfo? method = System.Diagnostics.DiagnosticMethodInfo.Create(frame);
        string file = frame.GetFileName() is { Length: > 0 } f ? Path.GetFileName(f) : method?.DeclaringTypeName ?? "?";
        return (file, method?.Name ?? "?", frame.GetFileLineNumber());
    }

    private static string OneLine(string text) => LogText.Escape(text.ReplaceLineEndings(" "));

    /// <summary>Priority (out-of-band) data arrived. By default logs a warning.</summary>
    /// <remarks>Python: dispatcher.handle_expt()</remarks>
    protected virtual void HandleExpt() => LogInfo("unhandled incoming priority event", "warning");

    /// <summary>The socket is readable. By default logs a warning.</summary>
    /// <remarks>Python: dispatcher.handle_read()</remarks>
    protected virtual void HandleRead() => LogInfo("unhandled read event", "warning");

    /// <summary>The socket is writable. By default logs a warning.</summary>
    /// <remarks>Python: dispatcher.handle_write()</remarks>
    protected virtual void HandleWrite() => LogInfo("unhandled write event", "warning");

    /// <summary>A connect completed. By default logs a warning.</summary>
    /// <remarks>Python: dispatcher.handle_connect()</remarks>
    protected virtual void HandleConnect() => LogInfo("unhandled connect event", "warning");

    /// <summary>A listening channel has a connection waiting: accept it and pass it to <see cref="HandleAccepted"/>.</summary>
    /// <remarks>Python: dispatcher.handle_accept()</remarks>
    protected virtual void HandleAccept()
    {
        if (Accept() is { } pair)
        {
            HandleAccepted(pair.Socket, pair.Address);
        }
    }

    /// <summary>A connection was accepted. By default closes it and logs a warning; servers override this to create a channel for it.</summary>
    /// <param name="socket">The new connection.</param>
    /// <param name="address">The peer's address.</param>
    /// <remarks>Python: dispatcher.handle_accepted(sock, addr)</remarks>
    protected virtual void HandleAccepted(Socket socket, EndPoint address)
    {
        socket.Close();
        LogInfo("unhandled accepted event", "warning");
    }

    /// <summary>The peer went away or the socket failed. By default logs a warning and closes the channel.</summary>
    /// <remarks>Python: dispatcher.handle_close()</remarks>
    protected internal virtual void HandleClose()
    {
        LogInfo("unhandled close event", "warning");
        Close();
    }
}
