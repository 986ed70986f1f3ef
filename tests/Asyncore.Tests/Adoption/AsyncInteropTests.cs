using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Samples.Line;

namespace Asyncore.Tests.Adoption;

/// <summary>Driving a loop from async code: RunAsync on a thread of its own, work handed over with Post.</summary>
public class AsyncInteropTests
{
    [Fact]
    public async Task AServerDrivenFromAsyncCode()
    {
        using var map = new SocketMap();
        using var cts = new CancellationTokenSource();
        Task loop = EventLoop.RunAsync(map, PollerKind.Default, cts.Token);

        var address = new TaskCompletionSource<EndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
        map.Post(() => address.SetResult(new LineServer(new IPEndPoint(IPAddress.Loopback, 0), map).Address));
        EndPoint at = await address.Task.WaitAsync(TimeSpan.FromSeconds(10));

        using var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)at);
        NetworkStream stream = client.GetStream();
        await stream.WriteAsync("hello\r\nQUIT\r\n"u8.ToArray());
        using var reader = new StreamReader(stream, Encoding.ASCII);
        Assert.Equal("echo: hello", await reader.ReadLineAsync());
        Assert.Equal("bye", await reader.ReadLineAsync());
        Assert.Null(await reader.ReadLineAsync()); // the server closed after bye

        var count = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        map.Post(() => count.SetResult(map.Count));
        Assert.Equal(1, await count.Task.WaitAsync(TimeSpan.FromSeconds(10))); // only the listener is left

        cts.Cancel();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(loop.IsCompletedSuccessfully);
    }

    [Fact]
    public void PostWakesABlockedLoopAtOnce()
    {
        using var map = new SocketMap();
        _ = new LineServer(new IPEndPoint(IPAddress.Loopback, 0), map); // idle: the wait would last 20 s
        var ran = new ManualResetEventSlim();
        var loop = new Thread(() => EventLoop.Loop(PollerKind.Default, timeout: 20, map: map, count: 2));
        loop.Start();
        Thread.Sleep(200); // let the loop block in its wait
        var sw = Stopwatch.StartNew();
        map.Post(ran.Set);
        Assert.True(ran.Wait(TimeSpan.FromSeconds(10)));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"the posted action waited {sw.Elapsed} (the poll timeout is 20 s)");
        map.Post(() => EventLoop.CloseAll(map));
        Assert.True(loop.Join(TimeSpan.FromSeconds(30)));
    }

    [Theory]
    [InlineData(PollerKind.Select)]
    [InlineData(PollerKind.Poll)]
    [InlineData(PollerKind.Epoll)]
    [InlineData(PollerKind.IoUring)]
    public async Task PostWorksOnEveryBackendAndAThrowingActionDoesNotStopTheLoop(PollerKind kind)
    {
        using var map = new SocketMap();
        using var cts = new CancellationTokenSource();
        Task loop = EventLoop.RunAsync(map, kind, cts.Token);
        map.Post(() => throw new InvalidOperationException("posted work failed"));
        var after = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        map.Post(after.SetResult);
        await after.Task.WaitAsync(TimeSpan.FromSeconds(10));
        cts.Cancel();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task ExitNowFromAPostedActionEndsRunAsync()
    {
        using var map = new SocketMap();
        Task loop = EventLoop.RunAsync(map);
        map.Post(() => throw new ExitNowException());
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(loop.IsCompletedSuccessfully);
    }
}
