using System.Text;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Asyncore;

/// <summary>Twins of CPython 3.11 test_asyncore.FileWrapperTest.</summary>
public sealed class FileWrapperTests : IDisposable
{
    private static readonly byte[] D = "It's not dead, it's sleeping!"u8.ToArray();
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"asyncore-fw-{Guid.NewGuid():N}");

    public FileWrapperTests() => File.WriteAllBytes(_path, D);

    public void Dispose() => File.Delete(_path);

    [Fact]
    public void test_recv()
    {
        using var h = File.OpenHandle(_path, FileMode.Open, FileAccess.Read);
        int fd = (int)h.DangerousGetHandle();
        var w = new FileWrapper(fd);
        h.Dispose();

        Assert.NotEqual(fd, w.Fd);
        Assert.NotEqual(fd, w.Fileno());
        Assert.Equal("It's not dead"u8.ToArray(), w.Recv(13));
        Assert.Equal(", it's"u8.ToArray(), w.Read(6));
        w.Close();
        Assert.Throws<IOException>(() => w.Read(1));
    }

    [Fact]
    public void test_send()
    {
        byte[] d1 = "Come again?"u8.ToArray();
        byte[] d2 = "I want to buy some cheese."u8.ToArray();
        int fd = Native.Open(_path, Native.O_WRONLY | Native.O_APPEND);
        var w = new FileWrapper(fd);
        Native.Close(fd);
        w.Write(d1);
        w.Send(d2);
        w.Close();

        Assert.Equal(D.Concat(d1).Concat(d2).ToArray(), File.ReadAllBytes(_path));
    }

    private sealed class Reader : FileDispatcher
    {
        public Reader(int fd, SocketMap map, List<byte[]> data) : base(fd, map) => Data = data;

        public List<byte[]> Data { get; }

        protected override void HandleRead() => Data.Add(Recv(29));
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void test_dispatcher(PollerKind kind)
    {
        var map = new SocketMap();
        var data = new List<byte[]>();
        var h = File.OpenHandle(_path, FileMode.Open, FileAccess.Read);
        var s = new Reader((int)h.DangerousGetHandle(), map, data);
        h.Dispose();
        EventLoop.Loop(kind, timeout: 0.01, map: map, count: 2);
        Assert.Equal(D, data.SelectMany(b => b).ToArray());
        EventLoop.CloseAll(map);
    }

    [Fact(Skip = "ResourceWarning has no .NET counterpart: FileWrapper's finalizer closes a descriptor left open")]
    public void test_resource_warning()
    {
    }

    [Fact]
    public void test_close_twice()
    {
        var h = File.OpenHandle(_path, FileMode.Open, FileAccess.Read);
        var f = new FileWrapper((int)h.DangerousGetHandle());
        h.Dispose();
        Native.Close(f.Fd); // close the wrapper's duplicate behind its back
        Assert.Throws<IOException>(f.Close);
        Assert.Equal(-1, f.Fd);
        f.Close();
    }
}
