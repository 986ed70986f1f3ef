using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Robustness;
using Asyncore.Tests.Support;
using CsCheck;

namespace Asyncore.Tests.Output;

/// <summary>
/// <see cref="AsyncChat.HoldInputUntilSent"/>: a channel that answers each line and holds its input
/// until the answer is sent frames the next line only then, keeps what it received meanwhile in
/// order, and sees the same messages however the stream is cut.
/// </summary>
public class HoldInputTests
{
    /// <summary>Answers each line with "LINE\n" (a large answer for a line "big"), then holds input until it is sent.</summary>
    private sealed class OneAtATime : RecordingChat
    {
        public OneAtATime(Socket s, SocketMap m) : base(s, m)
        {
        }

        /// <summary>How many answers were still queued, in bytes, when each line was framed.</summary>
        public List<long> QueuedAtFraming { get; } = [];

        protected override void OnMessage(string message)
        {
            QueuedAtFraming.Add(OutgoingBytes);
            Push(message == "big" ? new byte[4 * 1024 * 1024] : Encoding.ASCII.GetBytes(message + "\n"));
            HoldInputUntilSent();
        }
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void PipelinedLinesAreFramedOnlyOnceTheAnswerBeforeThemIsSent(PollerKind kind)
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new OneAtATime(s, m));
        using Socket client = Acceptor.Connect(acceptor.Address, receiveBuffer: 4096);
        client.Send("big\none\ntwo\n"u8);
        Drive.Until(map, () => acceptor.Channels.Count == 1 && ((OneAtATime)acceptor.Channels[0]).Messages.Count == 1, kind: kind);
        var chat = (OneAtATime)acceptor.Channels[0];
        for (int i = 0; i < 20; i++)
        {
            EventLoop.Loop(kind, 0.01, map, count: 1);
        }

        // The 4 MiB answer is not all sent (the client reads nothing): the lines behind it wait.
        Assert.Single(chat.Messages);
        Assert.True(chat.InputHeld);
        Assert.True(chat.UnframedInput);
        Assert.False(chat.IsIdle);

        var received = new MemoryStream();
        var buffer = new byte[256 * 1024];
        client.ReceiveTimeout = 20_000;
        Task reader = Task.Run(() =>
        {
            while (received.Length < (4 * 1024 * 1024) + 8)
            {
                int n = client.Receive(buffer);
                if (n == 0)
                {
                    return;
                }

                received.Write(buffer, 0, n);
            }
        });
        Drive.Until(map, () => reader.IsCompleted, kind: kind);
        Assert.Equal(["big", "one", "two"], chat.Messages);
        Assert.All(chat.QueuedAtFraming, queued => Assert.Equal(0, queued)); // each line framed with nothing queued before it
        Assert.Equal("one\ntwo\n", Encoding.ASCII.GetString(received.ToArray().AsSpan(4 * 1024 * 1024)));
        Assert.False(chat.InputHeld);
        Drive.Until(map, () => chat.IsIdle, kind: kind);
    }

    [Fact]
    public void WithNothingQueuedTheHoldDoesNothing()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new RecordingChat(s, m));
        using Socket client = Acceptor.Connect(acceptor.Address);
        Drive.Until(map, () => acceptor.Channels.Count == 1);
        var chat = (RecordingChat)acceptor.Channels[0];
        chat.HoldInputUntilSent();
        Assert.False(chat.InputHeld);
        client.Send("a\nb\n"u8);
        Drive.Until(map, () => chat.Messages.Count == 2);
    }

    [Fact]
    public void DiscardBuffersAndCloseEndAHold()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new OneAtATime(s, m));
        using Socket client = Acceptor.Connect(acceptor.Address, receiveBuffer: 4096);
        client.Send("big\nnext\n"u8);
        Drive.Until(map, () => acceptor.Channels.Count == 1 && ((OneAtATime)acceptor.Channels[0]).InputHeld);
        var chat = (OneAtATime)acceptor.Channels[0];
        chat.DiscardBuffers();
        Assert.False(chat.InputHeld);
        Assert.False(chat.UnframedInput);
        client.Send("after\n"u8);
        Drive.Until(map, () => chat.Messages.Count == 2);
        Assert.Equal(["big", "after"], chat.Messages); // "next" was discarded with the queue
        chat.Close();
        Assert.False(chat.InputHeld);
    }

    /// <summary>Chunking never changes the result: the same stream cut anywhere, each line answered and held, gives the same lines and the same answers.</summary>
    [Fact]
    public void HeldFramingSeesTheSameLinesHoweverTheStreamIsCut()
    {
        Gen.Select(Gen.String[Gen.Char['a', 'e'], 0, 6].Array[1, 12], Gen.Int[1, 7].Array[1, 8])
            .Sample((lines, cuts) =>
            {
                byte[] stream = Encoding.ASCII.GetBytes(string.Concat(lines.Select(l => l + "\n")));
                using var map = new SocketMap();
                var acceptor = new Acceptor(map, (s, m) => new OneAtATime(s, m));
                using Socket client = Acceptor.Connect(acceptor.Address);
                client.NoDelay = true;
                Drive.Until(map, () => acceptor.Channels.Count == 1);
                var chat = (OneAtATime)acceptor.Channels[0];
                int at = 0;
                for (int i = 0; at < stream.Length; i++)
                {
                    int n = Math.Min(cuts[i % cuts.Length], stream.Length - at);
                    client.Send(stream.AsSpan(at, n));
                    at += n;
                    EventLoop.Loop(PollerKind.Default, 0.001, map, count: 1);
                }

                Drive.Until(map, () => chat.Messages.Count == lines.Length);
                client.Shutdown(SocketShutdown.Send);
                Drive.Until(map, () => chat.Fileno < 0);
                string answers = Encoding.ASCII.GetString(Drive.ReadToEnd(client));
                return chat.Messages.SequenceEqual(lines) && answers == Encoding.ASCII.GetString(stream);
            }, iter: 40);
    }
}
