using System.Text;
using Asyncore.Framing;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Framing;

/// <summary>The framer's rules, one by one, without sockets (the branches of async_chat.handle_read).</summary>
public class TerminatorScannerTests
{
    private static byte[] B(string s) => Encoding.Latin1.GetBytes(s);

    private static string Trace(RecordingTarget t) =>
        string.Join(" ", t.Events.Select(e => e.Kind == 'c' ? $"c({Encoding.Latin1.GetString(e.Data)})" : "F"));

    [Fact]
    public void FoundTerminatorDropsItAndCollectsWhatIsBefore()
    {
        var (t, unread) = FramerDriver.Run(B("abc\r\ndef"), [], Terminator.FromBytes(B("\r\n")));
        Assert.Equal("c(abc) F c(def)", Trace(t));
        Assert.Empty(unread);
    }

    [Fact]
    public void NeverAnEmptyCollect()
    {
        var (t, _) = FramerDriver.Run(B("\n\nx\n"), [], Terminator.FromBytes(B("\n")));
        Assert.Equal("F F c(x) F", Trace(t));
    }

    [Fact]
    public void PrefixAtEndIsKeptForTheNextRead()
    {
        var framer = new ChatFramer();
        var t = new RecordingTarget(Terminator.FromBytes(B("\r\n.\r\n")));
        framer.Feed(B("line\r\n."), ref t);
        Assert.Equal("c(line)", Trace(t));
        Assert.Equal(B("\r\n."), framer.Unread.ToArray());
        framer.Feed(B("\r\nnext"), ref t);
        Assert.Equal("c(line) F c(next)", Trace(t));
        Assert.Equal(0, framer.Buffered);
    }

    [Fact]
    public void PrefixThatTurnsOutNotToBeATerminatorIsCollected()
    {
        var framer = new ChatFramer();
        var t = new RecordingTarget(Terminator.FromBytes(B("\r\n")));
        framer.Feed(B("ab\r"), ref t);
        framer.Feed(B("x"), ref t);
        Assert.Equal("c(ab) c(\rx)", Trace(t));
    }

    [Fact]
    public void WholeReadIsAPrefix()
    {
        var framer = new ChatFramer();
        var t = new RecordingTarget(Terminator.FromBytes(B("aab")));
        framer.Feed(B("a"), ref t);
        framer.Feed(B("a"), ref t);
        Assert.Empty(t.Events);
        framer.Feed(B("ab"), ref t);
        // "aaab": the terminator starts at index 1, so one 'a' is data.
        Assert.Equal("c(a) F", Trace(t));
    }

    [Fact]
    public void NoPrefixCollectsEverything()
    {
        var (t, unread) = FramerDriver.Run(B("hello"), [], Terminator.FromBytes(B("\r\n")));
        Assert.Equal("c(hello)", Trace(t));
        Assert.Empty(unread);
    }

    [Fact]
    public void CountIsFoundAfterExactlyNBytesAcrossReads()
    {
        var framer = new ChatFramer();
        var t = new RecordingTarget(Terminator.FromCount(5), Terminator.FromBytes(B("\n")));
        framer.Feed(B("ab"), ref t);
        Assert.Equal(3, t.Terminator.Count);
        framer.Feed(B("cdefg\n"), ref t);
        Assert.Equal("c(ab) c(cde) F c(fg) F", Trace(t));
        Assert.Equal(0, t.Events[2].At.Count);
    }

    private struct KeepTerminator : IFramerTarget
    {
        public List<string> Log;

        public Terminator Terminator { get; set; }

        public void CollectIncomingData(ReadOnlySpan<byte> data) => Log.Add(Encoding.Latin1.GetString(data));

        public void FoundTerminator() => Log.Add($"F{Terminator}");
    }

    [Fact]
    public void CountReachesZeroThenCollectsAll()
    {
        // CPython: found_terminator sees 0, and 0 then behaves like None until changed.
        var framer = new ChatFramer();
        var t = new KeepTerminator { Log = new(), Terminator = Terminator.FromCount(2) };
        framer.Feed(B("abcdef"), ref t);
        framer.Feed(B("gh"), ref t);
        Assert.Equal(new[] { "ab", "F0", "cdef", "gh" }, t.Log);
        Assert.Equal(Terminator.FromCount(0), t.Terminator);
    }

    [Fact]
    public void NoneCollectsForever()
    {
        var (t, _) = FramerDriver.Run(B("a\r\nb"), [1, 2], Terminator.None);
        Assert.Equal("c(a) c(\r) c(\nb)", Trace(t));
    }

    [Fact]
    public void EmptyBytesTerminatorCollectsAll()
    {
        var (t, _) = FramerDriver.Run(B("abc"), [], Terminator.FromBytes([]));
        Assert.Equal("c(abc)", Trace(t));
    }

    [Fact]
    public void TerminatorChangedInFoundTerminatorAppliesToTheRestOfTheRead()
    {
        // The asynchat documentation's HTTP example (http_request_handler): headers to \r\n\r\n, then a count, then None.
        var (t, _) = FramerDriver.Run(
            B("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabcEXTRA"),
            [],
            Terminator.FromBytes(B("\r\n\r\n")), Terminator.FromCount(3), Terminator.None);
        Assert.Equal("c(POST / HTTP/1.0\r\nContent-Length: 3) F c(abc) F c(EXTRA)", Trace(t));
    }

    private struct Discarding : IFramerTarget
    {
        public ChatFramer Framer;
        public List<string> Log;

        public Terminator Terminator { get; set; }

        public void CollectIncomingData(ReadOnlySpan<byte> data) => Log.Add(Encoding.Latin1.GetString(data));

        public void FoundTerminator()
        {
            Log.Add("F");
            Framer.Discard();
        }
    }

    [Fact]
    public void DiscardInACallbackDropsTheRestOfTheRead()
    {
        var framer = new ChatFramer();
        var t = new Discarding { Framer = framer, Log = new(), Terminator = Terminator.FromBytes(B("\n")) };
        framer.Feed(B("a\nb\nc\n"), ref t);
        Assert.Equal(new[] { "a", "F" }, t.Log);
        Assert.Equal(0, framer.Buffered);
    }

    [Theory]
    [InlineData("qwerty\r", "\r\n", 1)]
    [InlineData("qwertydkjf", "\r\n", 0)]
    [InlineData("x\r\n.\r", "\r\n.\r\n", 4)]
    [InlineData("aa", "aab", 2)]
    [InlineData("ba", "aab", 1)]
    [InlineData("", "\r\n", 0)]
    [InlineData("abc", "c", 0)]
    public void FindPrefixAtEnd(string haystack, string needle, int expected) =>
        Assert.Equal(expected, AsyncChat.FindPrefixAtEnd(B(haystack), B(needle)));

    /// <summary>Kestrel HttpParserTests style: each terminator of 1-5 bytes, at each position, input split at every index and every pair of indexes.</summary>
    [Theory]
    [InlineData("\n")]
    [InlineData("\r\n")]
    [InlineData("aab")]
    [InlineData("<END>")]
    [InlineData("\r\n.\r")]
    public void EverySplitPointGivesTheSameMessages(string term)
    {
        byte[] t = B(term);
        for (int pos = 0; pos <= 6; pos++)
        {
            byte[] input = [.. B("aaaaaa")[..pos], .. t, .. B("a<EN\r\naa")[..(6 - pos)], .. t, .. B("ab")];
            List<byte[]> expected = FramerDriver.Messages(input, [], Terminator.FromBytes(t));
            for (int i = 0; i <= input.Length; i++)
            {
                for (int j = i; j <= input.Length; j++)
                {
                    List<byte[]> got = FramerDriver.Messages(input, [i, j], Terminator.FromBytes(t));
                    Assert.Equal(expected, got);
                }
            }
        }
    }
}
