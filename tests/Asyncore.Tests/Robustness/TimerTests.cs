using System.Diagnostics;
using System.Net;

namespace Asyncore.Tests.Robustness;

public class TimerTests
{
    private static void RunFor(SocketMap map, TimeSpan time, double timeout = 30)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < time)
        {
            EventLoop.Loop(PollerKind.Default, timeout, map, count: 1);
        }
    }

    [Theory]
    [InlineData(PollerKind.Select)]
    [InlineData(PollerKind.Poll)]
    [InlineData(PollerKind.Epoll)]
    [InlineData(PollerKind.IoUring)]
    public void TimersFireInDeadlineOrderAndOnTimeWithNoSocketActivity(PollerKind kind)
    {
        using var map = new SocketMap();
        _ = new Acceptor(map, (s, m) => new Dispatcher(s, m)); // idle: only timers can end a wait
        var fired = new List<string>();
        var sw = Stopwatch.StartNew();
        TimeSpan firstAt = TimeSpan.Zero;
        map.CallLater(TimeSpan.FromMilliseconds(300), () => fired.Add("c"));
        map.CallLater(TimeSpan.FromMilliseconds(100), () =>
        {
            fired.Add("a");
            firstAt = sw.Elapsed;
        });
        map.CallLater(TimeSpan.FromMilliseconds(200), () => fired.Add("b"));
        map.CallLater(TimeSpan.FromMilliseconds(200), () => fired.Add("b2"));
        LoopTimer cancelled = map.CallLater(TimeSpan.FromMilliseconds(150), () => fired.Add("never"));
        cancelled.Cancel();
        map.CallLater(TimeSpan.FromMilliseconds(120), () => throw new InvalidOperationException("a failing timer"));
        while (fired.Count < 4 && sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            EventLoop.Loop(kind, timeout: 30, map: map, count: 1); // a 30 s poll timeout, cut short by the deadlines
        }

        Assert.Equal(new[] { "a", "b", "b2", "c" }, fired);
        Assert.InRange(firstAt, TimeSpan.FromMilliseconds(95), TimeSpan.FromSeconds(5));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10));
        EventLoop.CloseAll(map);
    }

    [Fact]
    public void IdleChannelsAreReapedAndBusyOnesAreNot()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new RecordingChat(s, m) { IdleTimeout = TimeSpan.FromMilliseconds(300) });
        using var idle = Acceptor.Connect(acceptor.Address);
        using var busy = Acceptor.Connect(acceptor.Address);
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromMilliseconds(900))
        {
            busy.Send("x"u8.ToArray()); // a byte every 50 ms keeps it alive
            EventLoop.Loop(PollerKind.Default, 0.05, map, count: 1);
        }

        var chats = acceptor.Channels.Cast<RecordingChat>().ToList();
        Assert.Equal(2, chats.Count);
        Assert.Single(chats, c => c.Events.Contains("idle") && c.Fileno < 0);
        Assert.Single(chats, c => !c.Events.Contains("idle") && c.Fileno >= 0);
        Assert.Equal(0, idle.Receive(new byte[1])); // the server closed the idle one
        EventLoop.CloseAll(map);
    }

    [Fact]
    public void AStartedMessageMustFinishInTime()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new RecordingChat(s, m, "\r\n\r\n") { MessageTimeout = TimeSpan.FromMilliseconds(400) });
        using var slowloris = Acceptor.Connect(acceptor.Address);
        using var prompt = Acceptor.Connect(acceptor.Address);
        var sw = Stopwatch.StartNew();
        int i = 0;
        while (sw.Elapsed < TimeSpan.FromSeconds(1.2))
        {
            if (i++ % 4 == 0)
            {
                try
                {
                    slowloris.Send("G"u8.ToArray()); // a byte at a time, never the terminator
                }
                catch (System.Net.Sockets.SocketException)
                {
                }

                prompt.Send("GET / HTTP/1.1\r\n\r\n"u8.ToArray()); // whole messages, promptly
            }

            EventLoop.Loop(PollerKind.Default, 0.05, map, count: 1);
        }

        var chats = acceptor.Channels.Cast<RecordingChat>().ToList();
        RecordingChat slow = chats.Single(c => c.Messages.Count == 0);
        RecordingChat fine = chats.Single(c => c.Messages.Count > 0);
        Assert.Contains("message timeout", slow.Events);
        Assert.True(slow.Fileno < 0);
        Assert.DoesNotContain("message timeout", fine.Events);
        Assert.True(fine.Fileno >= 0);
        EventLoop.CloseAll(map);
    }
}
