using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Asyncore.Tests.Tls;

/// <summary>
/// An HTTP server on 127.0.0.1 that accepts, reads the request and never answers: what a slow or dead
/// AIA, CRL or OCSP responder looks like to a client. It counts the connections and keeps the request
/// lines; disposing it closes every connection, so a client still waiting fails at once.
/// </summary>
internal sealed class StallingHttpServer : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly ConcurrentQueue<Socket> _held = new();
    private readonly Thread _thread;
    private volatile bool _stopped;
    private int _connections;

    public StallingHttpServer()
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _thread = new Thread(Run) { IsBackground = true, Name = "stalling http server" };
        _thread.Start();
    }

    public int Port { get; }

    /// <summary>Connections accepted so far: each one is a fetch the client began.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>The first line of each request that arrived (e.g. <c>GET /int.crt HTTP/1.1</c>).</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public void Dispose()
    {
        _stopped = true;
        _listener.Close();
        while (_held.TryDequeue(out Socket? socket))
        {
            socket.Close(0); // a reset: the waiting client's read fails now, not at its own timeout
        }

        _thread.Join(TimeSpan.FromSeconds(5));
    }

    private void Run()
    {
        while (!_stopped)
        {
            Socket socket;
            try
            {
                socket = _listener.Accept();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            _held.Enqueue(socket);
            if (_stopped)
            {
                socket.Close(0);
                return;
            }

            ThreadPool.QueueUserWorkItem(_ => ReadRequestLine(socket));
        }
    }

    private void ReadRequestLine(Socket socket)
    {
        byte[] buffer = new byte[1024];
        int length = 0;
        try
        {
            socket.ReceiveTimeout = 10_000;
            while (length < buffer.Length)
            {
                int read = socket.Receive(buffer, length, buffer.Length - length, SocketFlags.None);
                if (read == 0)
                {
                    break;
                }

                length += read;
                int end = Array.IndexOf(buffer, (byte)'\r', 0, length);
                if (end >= 0)
                {
                    Requests.Enqueue(Encoding.ASCII.GetString(buffer, 0, end));
                    return; // and never answer
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }
}
