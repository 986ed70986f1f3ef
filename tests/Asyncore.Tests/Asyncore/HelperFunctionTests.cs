using Asyncore.Reactor;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Asyncore;

/// <summary>Twins of CPython 3.11 test_asyncore.HelperFunctionTests.</summary>
public class HelperFunctionTests
{
    /// <summary>test_readwriteexc: ExitNow passes through read/write/_exception; anything else reaches handle_error.</summary>
    [Fact]
    public void test_readwriteexc()
    {
        var tr1 = new ExitingDummy();
        Assert.Throws<ExitNowException>(() => EventDispatch.Read(tr1));
        Assert.Throws<ExitNowException>(() => EventDispatch.Write(tr1));
        Assert.Throws<ExitNowException>(() => EventDispatch.Exception(tr1));

        var tr2 = new CrashingDummy();
        EventDispatch.Read(tr2);
        Assert.True(tr2.ErrorHandled);

        tr2 = new CrashingDummy();
        EventDispatch.Write(tr2);
        Assert.True(tr2.ErrorHandled);

        tr2 = new CrashingDummy();
        EventDispatch.Exception(tr2);
        Assert.True(tr2.ErrorHandled);
    }

    /// <summary>test_readwrite: each poll flag calls exactly its entry point; ExitNow passes, other errors go to handle_error.</summary>
    [Theory]
    [InlineData("POLLIN", "read")]
    [InlineData("POLLPRI", "expt")]
    [InlineData("POLLOUT", "write")]
    [InlineData("POLLERR", "closed")]
    [InlineData("POLLHUP", "closed")]
    [InlineData("POLLNVAL", "closed")]
    public void test_readwrite(string flag, string expected)
    {
        var tobj = new RecordingDummy();
        EventDispatch.ReadWrite(tobj, Flags.Of(flag));
        Assert.Equal(expected == "read", tobj.Read);
        Assert.Equal(expected == "write", tobj.Write);
        Assert.Equal(expected == "expt", tobj.Expt);
        Assert.Equal(expected == "closed", tobj.Closed);
        Assert.False(tobj.ErrorHandled);

        Assert.Throws<ExitNowException>(() => EventDispatch.ReadWrite(new ExitingDummy(), Flags.Of(flag)));

        var tr2 = new CrashingDummy();
        Assert.False(tr2.ErrorHandled);
        EventDispatch.ReadWrite(tr2, Flags.Of(flag));
        Assert.True(tr2.ErrorHandled);
    }

    private sealed class ClosingChannel : Dispatcher
    {
        public ClosingChannel(SocketMap map) : base(null, map)
        {
        }

        public bool SocketClosed { get; private set; }

        public override void Close()
        {
            SocketClosed = true;
            base.Close();
        }
    }

    /// <summary>test_closeall: close_all(map) closes every channel in the map and empties it.</summary>
    [Fact]
    public void test_closeall()
    {
        var map = new SocketMap();
        var channels = new List<ClosingChannel>();
        for (int i = 0; i < 10; i++)
        {
            var c = new ClosingChannel(map);
            Assert.False(c.SocketClosed);
            map.Add(i, c);
            channels.Add(c);
        }

        EventLoop.CloseAll(map);
        Assert.Equal(0, map.Count);
        Assert.All(channels, c => Assert.True(c.SocketClosed));
    }

    /// <summary>test_compact_traceback: the innermost frame, and the whole stack as [file|function|line] entries on one line.</summary>
    [Fact]
    public void test_compact_traceback()
    {
        Exception? caught = null;
        try
        {
            ThrowHere();
        }
        catch (InvalidOperationException e)
        {
            caught = e;
        }

        (string file, string function, int line, string info) = Dispatcher.CompactTraceback(caught!);
        Assert.Equal(nameof(ThrowHere), function);
        Assert.Equal("HelperFunctionTests.cs", file);
        Assert.True(line > 0);
        Assert.DoesNotContain('\n', info);
        Assert.EndsWith($"[{file}|{function}|{line}]", info); // innermost last, as CPython's
        Assert.StartsWith($"[HelperFunctionTests.cs|{nameof(test_compact_traceback)}|", info);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void ThrowHere() => throw new InvalidOperationException("here");
}

/// <summary>The part of HelperFunctionTests that uses the process-wide map.</summary>
[Collection(ProcessWide.Name)]
public class HelperFunctionDefaultMapTests
{
    private sealed class ClosingChannel : Dispatcher
    {
        public ClosingChannel() : base(null, null)
        {
        }

        public bool SocketClosed { get; private set; }

        public override void Close()
        {
            SocketClosed = true;
            base.Close();
        }
    }

    /// <summary>test_closeall_default: close_all() with no map closes the channels of socket_map.</summary>
    [Fact]
    public void test_closeall_default()
    {
        EventLoop.CloseAll(ignoreAll: true);
        var channels = new List<ClosingChannel>();
        for (int i = 0; i < 10; i++)
        {
            var c = new ClosingChannel();
            SocketMap.Default.Add(100_000 + i, c);
            channels.Add(c);
        }

        EventLoop.CloseAll();
        Assert.Equal(0, SocketMap.Default.Count);
        Assert.All(channels, c => Assert.True(c.SocketClosed));
    }
}
