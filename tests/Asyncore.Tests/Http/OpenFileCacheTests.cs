using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Http;

/// <summary>
/// The HTTP sample's open-file cache and its file bodies as file regions: a kept file answers again
/// with the same head, a file changed in place or replaced is opened again, ranges and HTTPS (where
/// the region is read and encrypted) arrive byte for byte.
/// </summary>
public sealed class OpenFileCacheTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("asyncore-http-cache-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static byte[] Body(byte[] answer) => answer[(answer.AsSpan().IndexOf("\r\n\r\n"u8) + 4)..];

    private static string Head(byte[] answer) => Encoding.Latin1.GetString(answer, 0, answer.AsSpan().IndexOf("\r\n\r\n"u8));

    private static string WithoutDate(string head) => string.Join("\r\n", head.Split("\r\n").Where(l => !l.StartsWith("Date: ", StringComparison.Ordinal)));

    [Fact]
    public void AKeptFileAnswersAgainAndAChangedOneIsOpenedAgain()
    {
        string path = Path.Combine(_root, "f.bin");
        byte[] first = Output.FileRegionTests.Content(300_000);
        File.WriteAllBytes(path, first);
        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        byte[] Get() => server.RawBytes("GET /f.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8.ToArray(), halfClose: false);

        byte[] a = Get(), b = Get();
        Assert.Equal(first, Body(a));
        Assert.Equal(first, Body(b));
        Assert.Equal(WithoutDate(Head(a)), WithoutDate(Head(b))); // the kept head, the same fields
        Assert.True(server.Server.OpenFiles!.Hits >= 1);

        // Changed in place, same size: a new mtime, so the kept descriptor's stat no longer matches.
        byte[] second = Output.FileRegionTests.Content(300_001)[..300_000];
        File.WriteAllBytes(path, second);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-5));
        byte[] c = Get();
        Assert.Equal(second, Body(c));
        Assert.NotEqual(WithoutDate(Head(a)), WithoutDate(Head(c))); // a new Last-Modified and ETag

        // Replaced by another file (a new inode) renamed over it, as deployments do.
        byte[] third = Output.FileRegionTests.Content(123_457);
        File.WriteAllBytes(path + ".new", third);
        File.Move(path + ".new", path, overwrite: true);
        Assert.Equal(third, Body(Get()));

        // Gone: 404, not the kept file.
        File.Delete(path);
        Assert.StartsWith("HTTP/1.1 404", Encoding.Latin1.GetString(Get()));
    }

    [Fact]
    public void RangesOfAKeptFileArriveByteForByte()
    {
        byte[] content = Output.FileRegionTests.Content(3 * 1024 * 1024 + 5);
        File.WriteAllBytes(Path.Combine(_root, "r.bin"), content);
        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        foreach ((long from, long to) in new[] { (0L, 99_999L), (70_000L, 2_999_999L), (3L * 1024 * 1024, 3L * 1024 * 1024 + 4), (1L, 1L) })
        {
            byte[] answer = server.RawBytes(Encoding.ASCII.GetBytes($"GET /r.bin HTTP/1.1\r\nHost: x\r\nRange: bytes={from}-{to}\r\nConnection: close\r\n\r\n"), halfClose: false);
            Assert.StartsWith("HTTP/1.1 206", Head(answer));
            Assert.Contains($"Content-Range: bytes {from}-{to}/{content.Length}", Head(answer));
            Assert.Equal(content.AsSpan((int)from, (int)(to - from + 1)).ToArray(), Body(answer));
        }
    }

    [Fact]
    public void OverHttpsALargeFileIsReadAndEncryptedAndArrivesWhole()
    {
        byte[] content = Output.FileRegionTests.Content(2 * 1024 * 1024 + 3);
        File.WriteAllBytes(Path.Combine(_root, "s.bin"), content);
        using var server = new HttpTestServer(_root, o => o with { Quiet = true, Tls = Tls.TestCertificate.Shared.ServerOptions() });
        using var tcp = new TcpClient();
        tcp.Connect(server.Address);
        tcp.ReceiveTimeout = 20_000;
        using var tls = new SslStream(tcp.GetStream());
        tls.AuthenticateAsClient(Tls.TestCertificate.Shared.ClientOptions());
        tls.Write("GET /s.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8);
        var got = new MemoryStream();
        tls.CopyTo(got);
        Assert.StartsWith("HTTP/1.1 200", Head(got.ToArray()));
        Assert.Equal(content, Body(got.ToArray()));
    }

    [Fact]
    public void AFullCacheGivesUpItsOldestFileButNotWhileItIsSent()
    {
        for (int i = 0; i < 5; i++)
        {
            File.WriteAllBytes(Path.Combine(_root, $"{i}.bin"), Output.FileRegionTests.Content(200_000 + i));
        }

        using var server = new HttpTestServer(_root, o => o with { Quiet = true, OpenFileCache = 2 });
        using Socket slow = server.Connect();
        slow.ReceiveBufferSize = 16 * 1024;
        slow.Send("GET /0.bin HTTP/1.1\r\nHost: x\r\n\r\n"u8); // being sent while the others push it out of the cache
        Thread.Sleep(100);
        for (int i = 1; i < 5; i++)
        {
            byte[] answer = server.RawBytes(Encoding.ASCII.GetBytes($"GET /{i}.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), halfClose: false);
            Assert.Equal(Output.FileRegionTests.Content(200_000 + i), Body(answer));
        }

        Assert.Equal(2, server.Server.OpenFiles!.Count);
        using var stream = new NetworkStream(slow);
        var head = new StringBuilder();
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            head.Append((char)stream.ReadByte());
        }

        byte[] body = new byte[200_000];
        stream.ReadExactly(body);
        Assert.Equal(Output.FileRegionTests.Content(200_000), body); // its file stayed open until it was sent
    }
}
