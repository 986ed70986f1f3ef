using System.Net.Sockets;
using Asyncore.Tests.Robustness;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Tls;

/// <summary>Output queued before StartTls goes out in the clear only when the caller says so (STARTTLS's own reply).</summary>
public class TlsQueuedOutputTests
{
    /// <summary>A welcome pushed in the constructor, then TLS: the obvious way to write it, and wrong.</summary>
    private sealed class WelcomeThenTls : RecordingChat
    {
        public WelcomeThenTls(Socket s, SocketMap m, bool inClear) : base(s, m)
        {
            Push("welcome, this line is secret\r\n"u8);
            StartTls(TestCertificate.Shared.ServerOptions(), sendQueuedInClear: inClear);
        }
    }

    private sealed class ErrorsTo : RecordingChat
    {
        public ErrorsTo(Socket s, SocketMap m, List<ErrorsTo> made) : base(s, m)
        {
            made.Add(this);
            Push("welcome, this line is secret\r\n"u8);
            StartTls(TestCertificate.Shared.ServerOptions());
        }
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void StartTlsWithOutputQueuedRefusesAndNothingLeavesInTheClear(PollerKind kind)
    {
        using var map = new SocketMap();
        var made = new List<ErrorsTo>();
        var acceptor = new Acceptor(map, (s, m) => new ErrorsTo(s, m, made));
        using Socket client = Acceptor.Connect(acceptor.Address);
        Drive.Until(map, () => made.Count == 1 && made[0].Fileno < 0, kind: kind);
        Assert.Empty(Drive.ReadToEnd(client)); // closed, and not one byte of the welcome went out
        // The channel's HandleError heard why, in one line that says what to do.
        Assert.Contains(made[0].Events, e => e.Contains("would go out unencrypted") && e.Contains("sendQueuedInClear: true"));
        Assert.True(acceptor.Accepting); // the listener goes on
        Assert.Equal(1, map.Count);
    }

    [Fact]
    public void StartTlsSaidToSendQueuedOutputInTheClearSendsItFirst()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new WelcomeThenTls(s, m, inClear: true));
        using Socket client = Acceptor.Connect(acceptor.Address);
        var got = new byte[64];
        int n = 0;
        Drive.Until(map, () => client.Available >= 30);
        n = client.Receive(got);
        Assert.Equal("welcome, this line is secret\r\n", System.Text.Encoding.ASCII.GetString(got, 0, n));
        Assert.True(((Dispatcher)acceptor.Channels[0]).IsTls);
        EventLoop.CloseAll(map);
    }
}
