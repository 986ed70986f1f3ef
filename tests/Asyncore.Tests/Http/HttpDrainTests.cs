using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Samples.Http;
using Asyncore.Tests.Support;
using Xunit;

namespace Asyncore.Tests.Http;

/// <summary>
/// A drain that begins while a keep-alive connection still has pipelined requests to answer: the
/// last answer before the close says <c>Connection: close</c>, because pipelined requests are framed
/// one at a time (<see cref="AsyncChat.HoldInputUntilSent"/>) and an answer is made only once the one
/// before it is sent, as nginx does.
/// </summary>
public sealed class HttpDrainTests : IDisposable
{
    private const int Big = 8 * 1024 * 1024;
    private readonly string _root = Directory.CreateTempSubdirectory("asyncore-http-drain-").FullName;

    public HttpDrainTests()
    {
        byte[] data = new byte[Big];
        new Random(7).NextBytes(data);
        File.WriteAllBytes(Path.Combine(_root, "big.bin"), data);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public async Task TheLastAnswerBeforeTheDrainClosesSaysConnectionClose(PollerKind kind)
    {
        HttpServer server = null!;
        var options = new HttpServerOptions { Root = _root, Quiet = true, Log = TextWriter.Null };
        using var loop = new LoopThread(map => server = new HttpServer(new IPEndPoint(IPAddress.Loopback, 0), options, map), kind);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096, ReceiveTimeout = 20_000 };
        client.Connect(server.Address);

        // Three requests in one write; the client reads nothing until the drain has begun, so the
        // first 8 MiB answer is still being sent then.
        client.Send("GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n"u8);
        Thread.Sleep(300);
        Task<bool> drained = loop.OnLoop(() => loop.Map.BeginDrain(TimeSpan.FromSeconds(20)));

        var heads = new List<string>();
        using (var stream = new NetworkStream(client))
        {
            byte[] body = new byte[Big];
            for (int i = 0; i < 3; i++)
            {
                string head = ReadHead(stream);
                heads.Add(head);
                Assert.StartsWith("HTTP/1.1 200 OK", head);
                Assert.Contains($"\r\nContent-Length: {Big.ToString(CultureInfo.InvariantCulture)}\r\n", head);
                stream.ReadExactly(body);
            }

            Assert.Equal(0, stream.Read(new byte[1])); // closed after the third answer
        }

        Assert.DoesNotContain("Connection: close", heads[0]);
        Assert.DoesNotContain("Connection: close", heads[1]);
        Assert.Contains("\r\nConnection: close\r\n", heads[2]);
        Assert.True(await drained.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public void PipelinedRequestsAreAnsweredInOrderOneAtATime()
    {
        HttpServer server = null!;
        var options = new HttpServerOptions { Root = _root, Quiet = true, Log = TextWriter.Null };
        using var loop = new LoopThread(map => server = new HttpServer(new IPEndPoint(IPAddress.Loopback, 0), options, map));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096, ReceiveTimeout = 20_000 };
        client.Connect(server.Address);
        client.Send("GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /missing HTTP/1.1\r\nHost: a\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=0-9\r\n\r\n"u8);
        Thread.Sleep(300);

        // The first answer is still on its way: the requests behind it are not framed yet.
        Assert.True(loop.OnLoop(() => loop.Map.Values.OfType<HttpRequestHandler>().Single().InputHeld));
        using var stream = new NetworkStream(client);
        string first = ReadHead(stream);
        Assert.StartsWith("HTTP/1.1 200 OK", first);
        stream.ReadExactly(new byte[Big]);
        string second = ReadHead(stream);
        Assert.StartsWith("HTTP/1.1 404", second);
        stream.ReadExactly(new byte[int.Parse(Field(second, "Content-Length"), CultureInfo.InvariantCulture)]);
        string third = ReadHead(stream);
        Assert.StartsWith("HTTP/1.1 206", third);
        Assert.Equal("10", Field(third, "Content-Length"));
    }

    private static string Field(string head, string name) =>
        head.Split("\r\n").Single(l => l.StartsWith(name + ": ", StringComparison.OrdinalIgnoreCase))[(name.Length + 2)..];

    private static string ReadHead(Stream stream)
    {
        var head = new StringBuilder();
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            int b = stream.ReadByte();
            if (b < 0)
            {
                throw new EndOfStreamException("the connection closed inside a head: " + head);
            }

            head.Append((char)b);
        }

        return head.ToString();
    }
}
