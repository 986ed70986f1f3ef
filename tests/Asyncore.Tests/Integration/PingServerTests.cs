using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Samples.Ping;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Integration;

/// <summary>The RESP PING sample, spoken to as redis-cli, redis-benchmark and a raw socket speak to Redis.</summary>
public class PingServerTests
{
    private static string Exchange(string request, int chunk = int.MaxValue) => Exchange(Encoding.Latin1.GetBytes(request), chunk);

    private static string Exchange(byte[] request, int chunk = int.MaxValue)
    {
        EndPoint at = null!;
        using var loop = new LoopThread(map => at = new PingServer(new IPEndPoint(IPAddress.Loopback, 0), map).Address);
        return Drive.Exchange(at, request, chunk);
    }

    private const string Requests =
        "PING\r\n" +
        "*1\r\n$4\r\nPING\r\n" +
        "*2\r\n$4\r\nping\r\n$5\r\nhello\r\n" +
        "PING hi\n" +
        "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n" +
        "FOO bar\r\n" +
        "*1\r\n$4\r\nPING\r\n";

    private const string Answers =
        "+PONG\r\n+PONG\r\n$5\r\nhello\r\n$2\r\nhi\r\n" +
        "-ERR unknown command 'CONFIG', with args beginning with: 'GET' 'save' \r\n" +
        "-ERR unknown command 'FOO', with args beginning with: 'bar' \r\n+PONG\r\n";

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    public void InlineAndMultibulkCommandsInAnyChunking(int chunk) => Assert.Equal(Answers, Exchange(Requests, chunk));

    /// <summary>What Redis 7 answers to each request (src/networking.c, src/server.c), byte for byte.</summary>
    public static TheoryData<string, string> RedisAnswers() => new()
    {
        // Inline commands: a line ended by "\n", with or without "\r"; runs of spaces and tabs separate arguments.
        { "PING\n", "+PONG\r\n" },
        { "ping hello\n", "$5\r\nhello\r\n" },
        { "\r\n\n   \r\n\t\nPING\r\n", "+PONG\r\n" },
        { "PING a b\r\n", "-ERR wrong number of arguments for 'ping' command\r\n" },
        { "PING a" + new string(' ', 100) + "b\r\n", "-ERR wrong number of arguments for 'ping' command\r\n" },
        { "PING a\t \t b\r\n", "-ERR wrong number of arguments for 'ping' command\r\n" },
        { "  PING   hi  \r\n", "$2\r\nhi\r\n" },
        { "FOO\r\n", "-ERR unknown command 'FOO', with args beginning with: \r\n" },
        { "foo a b\r\n", "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n" },
        { "QUIT\r\nPING\r\n", "+OK\r\n" },

        // Quoted arguments, as sdssplitargs reads them.
        { "PING \"a b\"\r\n", "$3\r\na b\r\n" },
        { "PING \"\"\r\n", "$0\r\n\r\n" },
        { "PING 'it\\'s'\r\n", "$4\r\nit's\r\n" },
        { "PING \"\\x41\\x6a\\n\\t\\\"\\q\"\r\n", "$6\r\nAj\n\t\"q\r\n" },
        { "PING a\"b c\"\r\n", "$4\r\nab c\r\n" },
        { "PING 'a \"b\" c'\r\n", "$7\r\na \"b\" c\r\n" },
        { "foo \"a\\r\\nb\"\r\n", "-ERR unknown command 'foo', with args beginning with: 'a  b' \r\n" },
        { "PING \"a\r\nPING\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n" },
        { "PING \"a\"b\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n" },
        { "PING 'a\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n" },

        // Multibulk.
        { "*2\r\n$4\r\nPING\r\n$3\r\na\0b\r\n", "$3\r\na\0b\r\n" },
        { "*3\r\n$4\r\nPING\r\n$1\r\na\r\n$1\r\nb\r\n", "-ERR wrong number of arguments for 'ping' command\r\n" },
        { "*0\r\n*-1\r\nPING\r\n", "+PONG\r\n" },
        { "*1\r\n$+4\r\nPING\r\n", "-ERR Protocol error: invalid bulk length\r\n" },
        { "*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n" },
        { "*1\r\n$04\r\nPING\r\n", "-ERR Protocol error: invalid bulk length\r\n" },
        { "*1\r\n$ 4\r\nPING\r\n", "-ERR Protocol error: invalid bulk length\r\n" },
        { "*1\r\n$4x\r\nPING\r\n", "-ERR Protocol error: invalid bulk length\r\n" },
        { "*1\r\n$\r\n", "-ERR Protocol error: invalid bulk length\r\n" },
        { "*1\r\n$99999999999999999999\r\n", "-ERR Protocol error: invalid bulk length\r\n" },
        { "*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n" },
        { "*+1\r\n$4\r\nPING\r\n", "-ERR Protocol error: invalid multibulk length\r\n" },
        { "*01\r\n", "-ERR Protocol error: invalid multibulk length\r\n" },
        { "*2147483648\r\n", "-ERR Protocol error: invalid multibulk length\r\n" },
        { "*1\r\nPING\r\n", "-ERR Protocol error: expected '$', got 'P'\r\n" },
        { "*1\r\n\r\n", "-ERR Protocol error: expected '$', got ' '\r\n" },
        { "PING\r\n*1\r\nPING\r\nPING\r\n", "+PONG\r\n-ERR Protocol error: expected '$', got 'P'\r\n" },
    };

    [Theory]
    [MemberData(nameof(RedisAnswers))]
    public void AnswersAsRedisDoes(string request, string answer) => Assert.Equal(answer, Exchange(request));

    [Fact]
    public void AnUnknownCommandShowsItsNameAndArgumentsUpTo128Bytes()
    {
        string name = new('N', 200);
        string first = new('a', 100), second = new('b', 100);
        Assert.Equal(
            $"-ERR unknown command '{name[..128]}', with args beginning with: '{first}' '{second[..(128 - 103)]}' \r\n",
            Exchange($"{name} {first} {second} never shown\r\n"));
    }

    [Fact]
    public void InlineCommandsUpTo64KiB()
    {
        string arg = new('x', RespHandler.MaxInline - 5); // "PING " + arg is 64 KiB
        Assert.Equal($"${arg.Length}\r\n{arg}\r\n", Exchange($"PING {arg}\r\n"));
        Assert.Equal("-ERR Protocol error: too big inline request\r\n", Exchange($"PING {arg}yy\r\nPING\r\n"));
        Assert.Equal("-ERR Protocol error: too big mbulk count string\r\n", Exchange("*" + new string('1', 70_000)));
        Assert.Equal("-ERR Protocol error: too big bulk count string\r\n", Exchange("*1\r\n$" + new string('1', 70_000)));
    }

    [Fact]
    public void BulkArgumentsUpTo1MiB()
    {
        byte[] big = new byte[RespHandler.MaxBulkLength];
        new Random(5).NextBytes(big);
        byte[] request = [.. "*2\r\n$4\r\nPING\r\n$1048576\r\n"u8, .. big, .. "\r\n"u8];
        Assert.Equal("$1048576\r\n" + Encoding.Latin1.GetString(big) + "\r\n", Exchange(request));
        Assert.Equal("-ERR Protocol error: invalid bulk length\r\n", Exchange("*2\r\n$4\r\nPING\r\n$1048577\r\n"));
    }

    [Theory]
    [InlineData("0", true, 0L)]
    [InlineData("7", true, 7L)]
    [InlineData("-12", true, -12L)]
    [InlineData("9223372036854775807", true, long.MaxValue)]
    [InlineData("-9223372036854775808", true, long.MinValue)]
    [InlineData("9223372036854775808", false, 0L)]
    [InlineData("+4", false, 0L)]
    [InlineData("04", false, 0L)]
    [InlineData("-0", false, 0L)]
    [InlineData("-", false, 0L)]
    [InlineData("", false, 0L)]
    [InlineData(" 4", false, 0L)]
    [InlineData("4 ", false, 0L)]
    [InlineData("1e3", false, 0L)]
    public void IntegersAreReadAsRedisReadsThem(string text, bool ok, long value)
    {
        Assert.Equal(ok, RespHandler.ParseRedisInteger(Encoding.ASCII.GetBytes(text), out long got));
        Assert.Equal(value, ok ? got : 0);
    }

    [Theory]
    [InlineData("a b  c", new[] { "a", "b", "c" })]
    [InlineData("  \t\v\f a \r b\t", new[] { "a", "b" })]
    [InlineData("a\vb", new[] { "a\vb" })]
    [InlineData("\"\"", new[] { "" })]
    [InlineData("'a\\nb'", new[] { "a\\nb" })]
    [InlineData("\"a\\zb\\\\\"", new[] { "azb\\" })]
    [InlineData("\"\\x4\"", new[] { "x4" })]
    [InlineData("x\0y z", new[] { "x" })]
    [InlineData("", new string[0])]
    public void InlineArgumentsSplitAsSdssplitargsDoes(string line, string[] expected)
    {
        byte[] bytes = Encoding.Latin1.GetBytes(line);
        var args = new InlineArgs(bytes);
        var got = new List<string>();
        while (args.Next(out ReadOnlySpan<byte> arg))
        {
            got.Add(Encoding.Latin1.GetString(arg));
        }

        Assert.False(args.Unbalanced);
        Assert.Equal(expected, got);
    }

    [Theory]
    [InlineData("\"a")]
    [InlineData("'a")]
    [InlineData("\"a\"b")]
    [InlineData("'a'b")]
    [InlineData("ok \"a\\\"")]
    public void UnbalancedQuotesAreRefused(string line)
    {
        var args = new InlineArgs(Encoding.Latin1.GetBytes(line));
        while (args.Next(out _))
        {
        }

        Assert.True(args.Unbalanced);
    }

    private static string RedisCli(EndPoint at, params string[] args)
    {
        var psi = new ProcessStartInfo(Needs.PathOf(Outside.RedisCli), ["-h", "127.0.0.1", "-p", ((IPEndPoint)at).Port.ToString(), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using (Process p = Process.Start(psi)!)
        {
            string output = p.StandardOutput.ReadToEnd();
            Assert.True(p.WaitForExit(20_000), "redis-cli did not finish");
            return output;
        }
    }

    [NeedsFact(Outside.RedisCli)]
    public void RedisCliTalksToIt()
    {
        EndPoint at = null!;
        using var loop = new LoopThread(map => at = new PingServer(new IPEndPoint(IPAddress.Loopback, 0), map).Address);
        Assert.Equal("PONG\n", RedisCli(at, "ping"));
        Assert.Equal("hello world\n", RedisCli(at, "PING", "hello world"));
        Assert.Equal("(error) ERR wrong number of arguments for 'ping' command\n", RedisCli(at, "--no-raw", "ping", "a", "b"));
        Assert.Equal("(error) ERR unknown command 'get', with args beginning with: 'key' \n", RedisCli(at, "--no-raw", "get", "key"));
        Assert.Equal(string.Concat(Enumerable.Repeat("PONG\n", 5)), RedisCli(at, "-r", "5", "ping"));
    }

    /// <summary>
    /// 12 MB of "X\r\n" from a client that never reads: each is answered by a 52-byte error, so
    /// the answers would pile up without bound. Reading pauses at the high-water mark instead, and
    /// another client is answered meanwhile.
    /// </summary>
    [Fact]
    public void AClientThatNeverReadsIsPausedNotBuffered()
    {
        PingServer server = null!;
        using var loop = new LoopThread(map => server = new PingServer(new IPEndPoint(IPAddress.Loopback, 0), map));
        var (flooder, sent) = Flood.NeverReading(server.Address, "X\r\n"u8, maxBytes: 12_000_000, stalled: TimeSpan.FromSeconds(1), limit: TimeSpan.FromSeconds(20));
        using (flooder)
        {
            Assert.True(sent < 12_000_000, $"the server read all {sent} bytes of a client that never reads");
            var (paused, queued) = loop.OnLoop(() => loop.Map.Values.OfType<RespHandler>().Select(h => (h.ReadingPaused, h.OutgoingCost)).Single());
            Assert.True(paused);
            // Paused past the high-water mark; while paused the socket may still take some of the queue (the
            // kernel grows a send buffer the peer leaves full), so the queue can sit below the mark, but not
            // below the low-water mark (half of it), where reading resumes.
            Assert.InRange(queued, RespHandler.DefaultHighWaterMark / 2, RespHandler.DefaultHighWaterMark + (256 << 10));
            Assert.Equal("+PONG\r\n", Drive.Exchange(server.Address, "PING\r\n"u8.ToArray()));
        }
    }

    [Fact]
    public void AClientPastTheHardOutputLimitIsDisconnected()
    {
        PingServer server = null!;
        using var loop = new LoopThread(map => server = new PingServer(new IPEndPoint(IPAddress.Loopback, 0), map) { HighWaterMark = null, OutputHardLimit = 256 << 10 });
        var (flooder, _) = Flood.NeverReading(server.Address, "X\r\n"u8, maxBytes: 12_000_000, stalled: TimeSpan.FromSeconds(1), limit: TimeSpan.FromSeconds(20));
        using (flooder)
        {
            Assert.True(Flood.ClosedByServer(flooder, TimeSpan.FromSeconds(10)));
            Assert.Equal(1, loop.OnLoop(() => loop.Map.Count));
        }
    }
}
