using System.Collections.Frozen;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Asyncore;

/// <summary>
/// A channel in a <see cref="SocketMap"/>: a thin wrapper around a non-blocking socket whose
/// <c>Handle*</c> callbacks the loop calls when the socket is ready. Subclass it and override the
/// callbacks you need.
/// </summary>
/// <remarks>
/// Python: asyncore.dispatcher. Every member keeps its CPython 3.11 behaviour; the C# names are in
/// docs/mapping.md. A dispatcher belongs to the thread that runs its map's loop.
/// </remarks>
public partial class Dispatcher : IDisposable
{
    private static readonly IReadOnlySet<string> DefaultIgnoreLogTypes = new[] { "warning" }.ToFrozenSet();

    private SocketMap _map;
    private nint _fileno = -1;

    /// <summary>Counts calls to <see cref="Close"/> (the channel's close generation), so a dispatcher of events can tell that a callback closed the channel.</summary>
    internal int CloseCount;

    /// <summary>
    /// Creates a channel, optionally around an existing socket.
    /// </summary>
    /// <param name="socket">
    /// A connected socket (an accepted one, typically), or an unconnected one, or null to create
    /// one later with <see cref="CreateSocket"/>. It is made non-blocking and joins the map.
    /// </param>
    /// <param name="map">The map to join; <see cref="SocketMap.Default"/> when null.</param>
    /// <remarks>Python: dispatcher.__init__(sock=None, map=None)</remarks>
    public Dispatcher(Socket? socket = null, SocketMap? map = null)
    {
        _map = map ?? SocketMap.Default;
        if (socket is null)
        {
            return;
        }

        socket.Blocking = false;
        SetSocket(socket, map);
        Connected = true;
        try
        {
            // CPython reads the peer with getpeername(); ENOTCONN / EINVAL mean "not connected".
            // .NET answers null for a socket it has never seen connected.
            Addr = socket.RemoteEndPoint;
            if (Addr is null)
            {
                Connected = false;
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.NotConnected or SocketError.InvalidArgument)
        {
            Connected = false;
        }
        catch
        {
            DelChannel(map);
            throw;
        }
    }

    /// <summary>The socket, or null before <see cref="CreateSocket"/> / <see cref="SetSocket"/> (and always for a <see cref="FileDispatcher"/>).</summary>
    /// <remarks>Python: dispatcher.socket</remarks>
    public Socket? Socket { get; private set; }

    /// <summary>The descriptor under which the channel is in its map, or -1 when it is in none.</summary>
    /// <remarks>Python: dispatcher._fileno</remarks>
    public nint Fileno => _fileno;

    /// <summary>The map the channel joins by default.</summary>
    /// <remarks>Python: dispatcher._map</remarks>
    public SocketMap Map => _map;

    /// <summary>Whether the socket is connected to a peer.</summary>
    /// <remarks>Python: dispatcher.connected</remarks>
    public bool Connected
    {
        get => _connected;
        protected set
        {
            _connected = value;
            InterestChanged();
        }
    }

    /// <summary>Whether the socket is listening (<see cref="Listen"/> was called).</summary>
    /// <remarks>Python: dispatcher.accepting</remarks>
    public bool Accepting
    {
        get => _accepting;
        protected set
        {
            _accepting = value;
            InterestChanged();
        }
    }

    private bool _connected;
    private bool _accepting;

    /// <summary>The channel's row in its loop's descriptor table, while it is in a map.</summary>
    internal Reactor.Registration? Registration;

    /// <summary>
    /// The one "something the predicates depend on changed" entry: the loop asks this channel's
    /// Readable()/Writable() again on its next pass. Library state that the predicates read calls it.
    /// </summary>
    internal void InterestChanged()
    {
        if (Registration is { Changed: false } reg)
        {
            reg.Reactor.MarkChanged(reg);
        }

        if (_tls is { RereadWhenReadable: true } tls)
        {
            TlsInterestChanged(tls);
        }
    }

    /// <summary>Whether a non-blocking <see cref="Connect"/> is under way.</summary>
    /// <remarks>Python: dispatcher.connecting</remarks>
    public bool Connecting { get; protected set; }

    /// <summary>A flag for subclasses; asyncore itself never sets it.</summary>
    /// <remarks>Python: dispatcher.closing</remarks>
    public bool Closing { get; set; }

    /// <summary>The peer's address for a connected or connecting channel, the local one after <see cref="Bind"/>.</summary>
    /// <remarks>Python: dispatcher.addr</remarks>
    public EndPoint? Addr { get; protected set; }

    /// <summary>The family and type given to <see cref="CreateSocket"/>.</summary>
    /// <remarks>Python: dispatcher.family_and_type</remarks>
    public (AddressFamily Family, SocketType Type)? FamilyAndType { get; private set; }

    /// <summary>When true, <see cref="DispatcherWithSend"/> logs what it sends.</summary>
    /// <remarks>Python: dispatcher.debug</remarks>
    public bool Debug { get; set; }

    /// <summary>The <see cref="LogInfo"/> types that are not printed; by default only "warning".</summary>
    /// <remarks>Python: dispatcher.ignore_log_types</remarks>
    public IReadOnlySet<string> IgnoreLogTypes { get; set; } = DefaultIgnoreLogTypes;

    /// <summary>Registers the channel in a map under its descriptor.</summary>
    /// <param name="map">The map; the channel's own when null.</param>
    /// <remarks>Python: dispatcher.add_channel(map=None)</remarks>
    public void AddChannel(SocketMap? map = null) => (map ?? _map).Add(_fileno, this);

    /// <summary>Takes the channel out of a map and forgets its descriptor.</summary>
    /// <param name="map">The map; the channel's own when null.</param>
    /// <remarks>Python: dispatcher.del_channel(map=None)</remarks>
    public void DelChannel(SocketMap? map = null)
    {
        SocketMap m = map ?? _map;
        if (m.TryGetValue(_fileno, out Dispatcher? there) && ReferenceEquals(there, this))
        {
            m.Remove(_fileno);
        }

        _fileno = -1;
    }

    /// <summary>Creates a non-blocking socket for the channel and registers it in the map.</summary>
    /// <param name="family">The address family (InterNetwork, InterNetworkV6, Unix).</param>
    /// <param name="type">The socket type.</param>
    /// <remarks>Python: dispatcher.create_socket(family=AF_INET, type=SOCK_STREAM)</remarks>
    public void CreateSocket(AddressFamily family = AddressFamily.InterNetwork, SocketType type = SocketType.Stream)
    {
        FamilyAndType = (family, type);
        ProtocolType protocol = family is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6
            ? type switch
            {
                SocketType.Stream => ProtocolType.Tcp,
                SocketType.Dgram => ProtocolType.Udp,
                _ => ProtocolType.Unspecified,
            }
            : ProtocolType.Unspecified;
        var socket = new Socket(family, type, protocol) { Blocking = false };
        SetSocket(socket);
    }

    /// <summary>Adopts a socket and registers it in a map.</summary>
    /// <param name="socket">The socket.</param>
    /// <param name="map">The map; the channel's own when null.</param>
    /// <remarks>Python: dispatcher.set_socket(sock, map=None)</remarks>
    public void SetSocket(Socket socket, SocketMap? map = null)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Socket = socket;
        _fileno = socket.Handle;
        ArmForNewSocket();
        AddChannel(map);
    }

    /// <summary>What owns the descriptor now: a new owner under a known number tells a backend the number was reused.</summary>
    internal virtual object PollOwner => (object?)Socket ?? this;

    /// <summary>Whether the socket was disposed behind the channel's back (not through <see cref="Close"/>).</summary>
    internal virtual bool DescriptorClosedElsewhere => Socket is { } s && s.SafeHandle.IsClosed;

    /// <summary>Adopts a descriptor that is not a Socket (used by <see cref="FileDispatcher"/>).</summary>
    internal void SetDescriptor(nint fd, SocketMap? map = null)
    {
        _fileno = fd;
        ArmForNewSocket();
        AddChannel(map);
    }

    /// <summary>Whether the loop should watch the channel for reading; asked before every pass.</summary>
    /// <returns>True by default.</returns>
    /// <remarks>Python: dispatcher.readable()</remarks>
    public virtual bool Readable() => true;

    /// <summary>Whether the loop should watch the channel for writing; asked before every pass. Never asked of a listening channel's answer: it is not watched for writing.</summary>
    /// <returns>True by default.</returns>
    /// <remarks>Python: dispatcher.writable()</remarks>
    public virtual bool Writable() => true;

    /// <summary>Starts listening; the channel then gets <see cref="HandleAccept"/> instead of reads.</summary>
    /// <param name="backlog">The queue length (at most 5 on Windows, as CPython caps it).</param>
    /// <remarks>Python: dispatcher.listen(num)</remarks>
    public void Listen(int backlog)
    {
        Socket socket = Socket ?? throw Errors.NoSocket();
        Accepting = true;
        if (OperatingSystem.IsWindows() && backlog > 5)
        {
            backlog = 5;
        }

        socket.Listen(backlog);
        Reactor.SpareDescriptor.Ensure();
        PrepareForExhaustion();
    }

    /// <summary>Binds the socket to a local address and remembers it in <see cref="Addr"/>.</summary>
    /// <param name="address">The local address.</param>
    /// <exception cref="SocketException">The system refused (address in use, ...), or, after <see cref="SetReusePort()"/>, another process already listens there.</exception>
    /// <remarks>Python: dispatcher.bind(addr)</remarks>
    public void Bind(EndPoint address)
    {
        Socket socket = Socket ?? throw Errors.NoSocket();
        CheckReusePortAlone(address);
        Addr = address;
        socket.Bind(address);
        NoteReusePortBound(address);
    }

    /// <summary>
    /// Starts a non-blocking connect. If it completes at once, <see cref="HandleConnect"/> runs now;
    /// otherwise it runs when the socket turns writable (or readable). Other errors are thrown.
    /// </summary>
    /// <param name="address">The peer.</param>
    /// <exception cref="SocketException">The connect failed at once (refused, unreachable, ...).</exception>
    /// <remarks>Python: dispatcher.connect(address)</remarks>
    public void Connect(EndPoint address)
    {
        Socket socket = Socket ?? throw Errors.NoSocket();
        Connected = false;
        Connecting = true;
        InterestChanged();
        SocketError error = SocketError.Success;
        try
        {
            socket.Connect(address);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress
                                          or SocketError.AlreadyInProgress or SocketError.IsConnected
                                          || (e.SocketErrorCode is SocketError.InvalidArgument && OperatingSystem.IsWindows()))
        {
            error = e.SocketErrorCode;
        }

        Addr = address;
        if (error is SocketError.Success or SocketError.IsConnected)
        {
            HandleConnectEvent();
        }
    }

    /// <summary>Accepts a pending connection.</summary>
    /// <returns>
    /// The new socket and the peer's address, or null when there is none after all (EWOULDBLOCK,
    /// ECONNABORTED, EAGAIN), when the process is out of descriptors or memory (EMFILE, ENFILE,
    /// ENOBUFS, ENOMEM: accepting then pauses for <see cref="AcceptRetryDelay"/>), or when the
    /// channel has no socket.
    /// </returns>
    /// <remarks>Python: dispatcher.accept()</remarks>
    public (Socket Socket, EndPoint Address)? Accept()
    {
        if (Socket is not { } listener)
        {
            return null;
        }

        Socket conn;
        try
        {
            conn = listener.Accept();
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.ConnectionAborted or SocketError.TryAgain)
        {
            return null;
        }
        catch (SocketException e) when (IsResourceShortage(e.SocketErrorCode))
        {
            // Out of descriptors or memory: pause accepting and try again soon (Dispatcher.Accept.cs).
            AcceptExhausted(listener, e.SocketErrorCode);
            return null;
        }

        _exhausted = false;
        NoteAccepted(conn);
        AsyncoreMetrics.Accepted.Add(1);
        EndPoint? peer = conn.RemoteEndPoint;
        // An unnamed AF_UNIX peer has no path: CPython reports '' there.
        peer ??= listener.LocalEndPoint is UnixDomainSocketEndPoint ? UnnamedUnixEndPoint.Instance : new IPEndPoint(IPAddress.None, 0);
        return (conn, peer);
    }

    /// <summary>
    /// Sends what the socket takes now.
    /// </summary>
    /// <param name="data">The bytes.</param>
    /// <returns>How many bytes were sent; 0 when the socket would block, or when the peer is gone (and then <see cref="HandleClose"/> has run).</returns>
    /// <exception cref="SocketException">Any other error.</exception>
    /// <remarks>Python: dispatcher.send(data)</remarks>
    public virtual int Send(ReadOnlySpan<byte> data)
    {
        if (_tls is { Ended: false } tls)
        {
            return TlsSend(tls, data);
        }

        int sent = SocketSendRaw(data);
        return sent < 0 ? 0 : sent; // would block, or the peer is gone (HandleClose has run)
    }

    /// <summary>
    /// Receives what is there now into <paramref name="buffer"/>.
    /// </summary>
    /// <param name="buffer">Where the bytes go.</param>
    /// <returns>
    /// The number of bytes received; 0 at end of stream or when the peer is gone (and then
    /// <see cref="HandleClose"/> has run); <see cref="WouldBlock"/> (-1) when nothing is there yet.
    /// </returns>
    /// <exception cref="SocketException">Any other error.</exception>
    /// <remarks>Python: dispatcher.recv(buffer_size), without an exception for EWOULDBLOCK.</remarks>
    public virtual int Recv(Span<byte> buffer)
    {
        if (_tls is { Ended: false } tls)
        {
            return TlsRecv(tls, buffer);
        }

        return SocketRecvResult(SocketRecvRaw(buffer));
    }

    /// <summary>
    /// The peer closed its side (end of stream). True means the channel handles it later (an
    /// <see cref="AsyncChat"/> with output still queued sends it first), so HandleClose is not called now.
    /// </summary>
    private protected virtual bool DeferCloseOnEof() => false;

    /// <summary>What <see cref="Recv(Span{byte})"/> returns when the socket has nothing to read yet.</summary>
    public const int WouldBlock = -1;

    /// <summary>Receives up to <paramref name="bufferSize"/> bytes into a new array.</summary>
    /// <param name="bufferSize">The most to read.</param>
    /// <returns>The bytes; empty at end of stream, when the peer is gone (after <see cref="HandleClose"/>) or when nothing is there yet.</returns>
    /// <remarks>Python: dispatcher.recv(buffer_size). Allocates: the loop's own paths use the span overload.</remarks>
    public byte[] Recv(int bufferSize)
    {
        byte[] buffer = new byte[bufferSize];
        int n = Recv(buffer.AsSpan());
        return n <= 0 ? [] : n == bufferSize ? buffer : buffer.AsSpan(0, n).ToArray();
    }

    /// <summary>Closes the socket and takes the channel out of its map. Safe to call more than once.</summary>
    /// <remarks>Python: dispatcher.close()</remarks>
    public virtual void Close()
    {
        Registration?.Reactor.CheckRingRemoval("Dispatcher.Close");
        try
        {
            CloseTls();
        }
        finally
        {
            // Whatever the TLS goodbye does, the channel leaves the map and its socket is closed.
            Connected = false;
            Accepting = false;
            Connecting = false;
            CloseCount++;
            _idle?.Clear();
            _acceptResume?.Clear();
            _acceptPaused = false;
            ForgetReusePortBound();
            DelChannel();
            CloseHandle();
        }
    }

    /// <summary>Closes what carries the bytes: the socket here, the file descriptor in <see cref="FileDispatcher"/>.</summary>
    private protected virtual void CloseHandle()
    {
        if (Socket is { } socket)
        {
            try
            {
                socket.Close();
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.NotConnected or SocketError.OperationAborted)
            {
            }
        }
    }

    /// <summary>The pending error on the socket (SO_ERROR) as a <see cref="SocketError"/> value, 0 when there is none.</summary>
    private protected virtual int PendingError()
    {
        Socket socket = Socket ?? throw Errors.NoSocket();
        // .NET maps SO_ERROR's errno to its SocketError numbering on every platform.
        return (int)(socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error) ?? 0);
    }

    /// <summary>Closes the channel (same as <see cref="Close"/>).</summary>
    public void Dispose()
    {
        Close();
        GC.SuppressFinalize(this);
    }

    /// <summary>A short description in the spirit of CPython's repr: type, state, address and identity.</summary>
    /// <returns>For example <c>&lt;MyServer listening 127.0.0.1:8080 at 0x2bd9e1&gt;</c>.</returns>
    /// <remarks>Python: dispatcher.__repr__</remarks>
    public override string ToString()
    {
        var status = new System.Text.StringBuilder("<");
        status.Append(GetType().FullName);
        if (Accepting && Addr is not null)
        {
            status.Append(" listening");
        }
        else if (Connected)
        {
            status.Append(" connected");
        }

        if (Addr is not null)
        {
            status.Append(' ').Append(LogText.Escape(Addr.ToString())); // after a PROXY header, the address a peer claimed
        }

        status.Append(" at 0x").Append(RuntimeHelpers.GetHashCode(this).ToString("x"));
        return status.Append('>').ToString();
    }

    /// <summary>The address .NET cannot name: an unbound AF_UNIX peer.</summary>
    internal sealed class UnnamedUnixEndPoint : EndPoint
    {
        internal static readonly UnnamedUnixEndPoint Instance = new();

        public override AddressFamily AddressFamily => AddressFamily.Unix;

        public override string ToString() => "''";
    }
}
