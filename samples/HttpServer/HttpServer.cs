using System.Net;
using System.Net.Sockets;
using Asyncore;

namespace Asyncore.Samples.Http;

/// <summary>The listening channel: one <see cref="HttpRequestHandler"/> per accepted connection.</summary>
public sealed class HttpServer : Dispatcher
{
    private readonly FileResponder? _files;

    /// <param name="address">Where to listen.</param>
    /// <param name="options">The server's options.</param>
    /// <param name="map">The loop's map.</param>
    /// <param name="reusePort">Set SO_REUSEPORT, so that one listener per loop shares the port.</param>
    public HttpServer(EndPoint address, HttpServerOptions options, SocketMap? map = null, bool reusePort = false) : base(null, map)
    {
        Options = options;
        _files = options.Root is null ? null : new FileResponder(options.Root, options.FollowSymlinks, options.OpenFileCache);
        CreateSocket(address.AddressFamily);
        SetReuseAddr();
        if (reusePort)
        {
            SetReusePort();
        }

        Bind(address);
        Listen(1024);
    }

    public HttpServerOptions Options { get; }

    /// <summary>The bound address (with the port chosen for port 0).</summary>
    public IPEndPoint Address => (IPEndPoint)Socket!.LocalEndPoint!;

    /// <summary>The folder listings this loop built and keeps (null without a root).</summary>
    internal ListingCache? Listings => _files?.Listings;

    /// <summary>The files this loop keeps open (null without a root).</summary>
    internal OpenFileCache? OpenFiles => _files?.OpenFiles;

    /// <summary>Stops listening and gives up the files kept open (those still being sent close when their answers are done).</summary>
    public override void Close()
    {
        base.Close();
        _files?.OpenFiles.Clear();
    }

    /// <summary>Connections accepted so far.</summary>
    public int Accepted { get; private set; }

    protected override void HandleAccepted(Socket socket, EndPoint address)
    {
        Accepted++;
        socket.NoDelay = true;
        var handler = new HttpRequestHandler(socket, address, Options, Map, _files);
        if (Options.Tls is { } tls)
        {
            if (Options.DetectPlainHttp && !Options.ProxyProtocol)
            {
                handler.StartTlsAtFirstByte(tls);
            }
            else
            {
                handler.StartTls(tls); // behind a PROXY header the first byte is the header's
            }
        }
    }
}
