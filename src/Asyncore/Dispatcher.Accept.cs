using System.Net.Sockets;
using Asyncore.Reactor;
using Microsoft.Extensions.Logging;

namespace Asyncore;

public partial class Dispatcher
{
    private Deadline? _acceptResume;
    private bool _acceptPaused;
    private bool _exhausted;

    /// <summary>
    /// How long a listening channel stops accepting after accept() failed for want of descriptors
    /// or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM); 500 ms by default, nginx's
    /// <c>accept_mutex_delay</c>. The listener stays open and in the map, and resumes by itself.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    public TimeSpan AcceptRetryDelay
    {
        get => _acceptRetryDelay;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            _acceptRetryDelay = value;
        }
    }

    private TimeSpan _acceptRetryDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>Whether accepting is paused after the process ran out of descriptors or memory (see <see cref="AcceptRetryDelay"/>).</summary>
    public bool AcceptPaused => _acceptPaused;

    /// <summary>
    /// accept() failed for want of resources: a condition, not the listener's error. A level-triggered
    /// listener with a connection waiting and no descriptor to take it would be reported ready on
    /// every pass and spin, so accepting pauses for <see cref="AcceptRetryDelay"/>. For EMFILE and
    /// ENFILE the waiting connections are first accepted with the spare descriptor the process keeps
    /// and closed at once (libuv's <c>uv__emfile_trick</c>), so those clients see a clean close
    /// instead of hanging in the backlog. One log line per episode, and the
    /// <see cref="AsyncoreMetrics.AcceptPauses"/> counter.
    /// </summary>
    private void AcceptExhausted(Socket listener, SocketError error)
    {
        long refused = error == SocketError.TooManyOpenSockets ? SpareDescriptor.RefuseWaiting(listener) : 0;
        if (!_exhausted)
        {
            _exhausted = true; // one line per episode: until an accept succeeds again
            AsyncoreMetrics.AcceptPausesCounter.Add(1);
            string what = error == SocketError.TooManyOpenSockets ? "Too many open files" : "No buffer space available";
            if (_map.Logger is { } logger)
            {
                logger.LogWarning("{Channel}: accept() failed ({Error}); {Refused} waiting connections closed, accepting again in {Delay} ms", this, what, refused, (int)_acceptRetryDelay.TotalMilliseconds);
            }
            else
            {
                LogInfo($"accept() failed ({what}); {refused} waiting connections closed, accepting again in {(int)_acceptRetryDelay.TotalMilliseconds} ms", "error");
            }
        }

        _acceptPaused = true;
        InterestChanged();
        _acceptResume ??= new Deadline(ResumeAccepting);
        _acceptResume.Set(_map.Reactor.Timers, Deadline.After(Deadline.Now, _acceptRetryDelay));
    }

    private void ResumeAccepting()
    {
        _acceptPaused = false;
        InterestChanged();
    }

    /// <summary>
    /// Readies the out-of-descriptors path while descriptors remain: once they are gone the runtime
    /// cannot open an assembly file, so a first use of the logging types (or a first compile that
    /// needs them) at that moment would throw instead of pausing.
    /// </summary>
    private static void PrepareForExhaustion()
    {
        if (Interlocked.Exchange(ref s_exhaustionReady, 1) != 0)
        {
            return;
        }

        _ = typeof(ILogger).TypeHandle;
        _ = typeof(LoggerExtensions).TypeHandle;
        System.Runtime.CompilerServices.RuntimeHelpers.PrepareMethod(
            typeof(Dispatcher).GetMethod(nameof(AcceptExhausted), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.MethodHandle);
        System.Runtime.CompilerServices.RuntimeHelpers.PrepareMethod(
            typeof(Dispatcher).GetMethod(nameof(ResumeAccepting), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.MethodHandle);
        SpareDescriptor.Prepare();
    }

    private static int s_exhaustionReady;

    /// <summary>The connection <see cref="Accept"/> took during the running <see cref="HandleAccept"/>, until the callback returns.</summary>
    private Socket? _justAccepted;
    private nint _justAcceptedFd = -1;

    /// <summary>Accept() took a connection: until HandleAccept returns, a throw belongs to it.</summary>
    private void NoteAccepted(Socket conn)
    {
        _justAccepted = conn;
        _justAcceptedFd = conn.Handle;
    }

    /// <summary>
    /// <see cref="HandleAccept"/>, where an exception thrown after a connection was accepted is that
    /// connection's, not the listener's: the channel made for it (half-built when its constructor
    /// threw after joining the map) hears it in its <see cref="HandleError"/> and is closed, or the
    /// socket nobody took is closed and the error logged. The listener keeps accepting, as nginx and
    /// HAProxy keep their listening sockets when setting up one connection fails. An exception
    /// before any connection was accepted is the listener's, as in CPython.
    /// </summary>
    private void AcceptGuarded()
    {
        _justAccepted = null;
        try
        {
            HandleAccept();
        }
        catch (Exception e) when (e is not ExitNowException && _justAccepted is not null)
        {
            Socket conn = _justAccepted;
            nint fd = _justAcceptedFd;
            _justAccepted = null;
            AcceptedConnectionFailed(conn, fd, e);
        }
        finally
        {
            _justAccepted = null;
            _justAcceptedFd = -1;
        }
    }

    private void AcceptedConnectionFailed(Socket conn, nint fd, Exception error)
    {
        if (_map.TryGetValue(fd, out Dispatcher? channel) && ReferenceEquals(channel.Socket, conn) && !ReferenceEquals(channel, this))
        {
            // The channel joined the map before its setup failed: nobody else holds it, so the loop closes it,
            // and what its setup queued is not sent (a welcome pushed before a StartTls that threw would leave in the clear).
            channel.DropQueuedOutput();
            EventDispatch.Fail(channel, error);
            if (channel.Fileno >= 0)
            {
                try
                {
                    channel.Close();
                }
                catch (Exception e) when (e is not ExitNowException)
                {
                    // It is out of the map either way (DelChannel runs before the socket closes).
                }
            }

            return;
        }

        AsyncoreMetrics.Failures.Add(1);
        try
        {
            conn.Close();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }

        if (_map.Logger is { } logger)
        {
            logger.LogError(error, "{Channel}: setting up an accepted connection failed; that connection was closed, the listener goes on", this);
        }
        else
        {
            LogInfo($"setting up an accepted connection failed ({error.GetType()}: {error.Message}); that connection was closed, the listener goes on", "error");
        }
    }

    private static bool IsResourceShortage(SocketError error) =>
        error is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable;
}
