using System.Net.Sockets;
using System.Text;

namespace Asyncore.Tests.Http;

/// <summary>
/// --root and symbolic links: by default a path that leads outside the root through a link is 403
/// (nginx's disable_symlinks answers 403); links that stay inside are followed; --follow-symlinks
/// serves them all. Tried with links to a file, to a folder, inside a linked folder, and with the
/// root itself given through a link.
/// </summary>
public sealed class SymlinkTests : IDisposable
{
    private readonly string _base = Directory.CreateTempSubdirectory("asyncore-http-links-").FullName;
    private readonly string _root;
    private readonly string _outside;

    public SymlinkTests()
    {
        _root = Directory.CreateDirectory(Path.Combine(_base, "www")).FullName;
        _outside = Directory.CreateDirectory(Path.Combine(_base, "secret")).FullName;
        File.WriteAllText(Path.Combine(_outside, "key.txt"), "outside");
        File.WriteAllText(Path.Combine(_root, "inside.txt"), "inside");
        Directory.CreateDirectory(Path.Combine(_root, "sub"));
        File.WriteAllText(Path.Combine(_root, "sub", "deep.txt"), "deep");
        File.CreateSymbolicLink(Path.Combine(_root, "in-link.txt"), "inside.txt");
        File.CreateSymbolicLink(Path.Combine(_root, "sub-link"), "sub");
        File.CreateSymbolicLink(Path.Combine(_root, "out-link.txt"), Path.Combine(_outside, "key.txt"));
        File.CreateSymbolicLink(Path.Combine(_root, "out-dir"), _outside);
        File.CreateSymbolicLink(Path.Combine(_root, "sub", "up-and-out.txt"), "../../secret/key.txt");
        File.CreateSymbolicLink(Path.Combine(_base, "www-link"), _root);
    }

    public void Dispose() => Directory.Delete(_base, recursive: true);

    private static string Get(HttpTestServer server, string path)
    {
        string answer = server.Raw($"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        string status = HttpTestServer.StatusLine(answer)["HTTP/1.1 ".Length..];
        return status.StartsWith("200", StringComparison.Ordinal) ? "200 " + answer.Split("\r\n\r\n", 2)[1] : status;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the root named through a link of its own: what counts is where it really is
    public void LinksThatLeaveTheRootAre403ByDefault(bool rootThroughALink)
    {
        using var server = new HttpTestServer(rootThroughALink ? Path.Combine(_base, "www-link") : _root, o => o with { Quiet = true });
        Assert.Equal("200 inside", Get(server, "/inside.txt"));
        Assert.Equal("200 inside", Get(server, "/in-link.txt"));
        Assert.Equal("200 deep", Get(server, "/sub-link/deep.txt"));
        Assert.StartsWith("200 ", Get(server, "/sub-link/"));
        Assert.Equal("403 Forbidden", Get(server, "/out-link.txt"));
        Assert.Equal("403 Forbidden", Get(server, "/out-dir/key.txt"));
        Assert.Equal("403 Forbidden", Get(server, "/out-dir/"));
        Assert.Equal("403 Forbidden", Get(server, "/out-dir"));
        Assert.Equal("403 Forbidden", Get(server, "/sub/up-and-out.txt"));
        // Whether a file exists out there is not told either: missing or not, 403.
        Assert.Equal("403 Forbidden", Get(server, "/out-dir/missing.txt"));
        Assert.Equal("403 Forbidden", Get(server, "/out-dir/no/such/file.txt"));
        Assert.Equal("404 Not Found", Get(server, "/missing.txt"));
        Assert.Equal("404 Not Found", Get(server, "/sub-link/missing/file.txt"));
    }

    [Fact]
    public void FollowSymlinksServesWhereverTheyLead()
    {
        using var server = new HttpTestServer(_root, o => o with { Quiet = true, FollowSymlinks = true });
        Assert.Equal("200 inside", Get(server, "/in-link.txt"));
        Assert.Equal("200 outside", Get(server, "/out-link.txt"));
        Assert.Equal("200 outside", Get(server, "/out-dir/key.txt"));
        Assert.Equal("200 outside", Get(server, "/sub/up-and-out.txt"));
        Assert.Contains("key.txt", Get(server, "/out-dir/"));
    }
}
