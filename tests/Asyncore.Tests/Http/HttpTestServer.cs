using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Samples.Http;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Http;

/// <summary>The HTTP sample on a loop thread of its own, on 127.0.0.1, and the clients the tests talk to it with.</summary>
internal sealed class HttpTestServer : IDisposable
{
    private readonly StringWriter _log = new();
    private readonly LoopThread _loop;

    public HttpTestServer(string? root = null, Func<HttpServerOptions, HttpServerOptions>? configure = null, PollerKind kind = PollerKind.Default)
    {
        var options = new HttpServerOptions { Root = root, Log = TextWriter.Synchronized(_log) };
        options = configure?.Invoke(options) ?? options;
        HttpServer? server = null;
        _loop = new LoopThread(map => server = new HttpServer(new IPEndPoint(IPAddress.Loopback, 0), options, map), kind);
        Server = server!;
    }

    public HttpServer Server { get; }

    public IPEndPoint Address => Server.Address;

    public string Url => $"http://{Address}";

    /// <summary>The folder listings the server built and keeps (with a root).</summary>
    public ListingCache Listings => Server.Listings!;

    /// <summary>The access log so far.</summary>
    public string Log => _log.ToString();

    public void Dispose() => _loop.Dispose();

    /// <summary>An HttpClient for the server; <paramref name="onConnect"/> is told of every connection it opens.</summary>
    public HttpClient Client(Action? onConnect = null)
    {
        IPEndPoint at = Address;
        var handler = new SocketsHttpHandler
        {
            UseCookies = false,
            ConnectCallback = async (_, ct) =>
            {
                onConnect?.Invoke();
                var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await s.ConnectAsync(at, ct);
                return new NetworkStream(s, ownsSocket: true);
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri(Url + "/"), Timeout = TimeSpan.FromSeconds(20) };
    }

    /// <summary>Sends raw bytes, half-closes (unless told not to), and reads everything until the server closes.</summary>
    public byte[] RawBytes(byte[] request, bool halfClose = true)
    {
        using Socket s = Connect();
        s.Send(request);
        if (halfClose)
        {
            s.Shutdown(SocketShutdown.Send);
        }

        return Drive.ReadToEnd(s);
    }

    /// <summary><see cref="RawBytes"/> with Latin-1 text both ways.</summary>
    public string Raw(string request, bool halfClose = true) =>
        Encoding.Latin1.GetString(RawBytes(Encoding.Latin1.GetBytes(request), halfClose));

    public Socket Connect()
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000, NoDelay = true };
        s.Connect(Address);
        return s;
    }

    /// <summary>Runs curl against the server (a test that calls it is marked <c>[NeedsFact(Outside.Curl)]</c>): its exit code, its output bytes and its stderr.</summary>
    public static (int Exit, byte[] Output, string Errors) Curl(params string[] args)
    {
        var psi = new ProcessStartInfo(Needs.PathOf(Outside.Curl), ["--silent", "--show-error", "--max-time", "20", .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using (Process p = Process.Start(psi)!)
        {
            var output = new MemoryStream();
            Task copy = p.StandardOutput.BaseStream.CopyToAsync(output);
            Task<string> errors = p.StandardError.ReadToEndAsync();
            Assert.True(p.WaitForExit(30_000), "curl did not finish");
            copy.Wait();
            return (p.ExitCode, output.ToArray(), errors.Result);
        }
    }

    /// <summary>The status line of a raw answer.</summary>
    public static string StatusLine(string response) => response.Split("\r\n")[0];

    /// <summary>Every status line in a raw stream of answers.</summary>
    public static string[] Statuses(string response) =>
        System.Text.RegularExpressions.Regex.Matches(response, "HTTP/1\\.1 [0-9]{3} [^\r]*(?=\r\n)").Select(m => m.Value).ToArray();
}
