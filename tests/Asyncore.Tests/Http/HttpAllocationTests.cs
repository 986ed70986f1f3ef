using System.Buffers.Text;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Samples.Http;
using Asyncore.Tests.Support;
using Xunit.Abstractions;

namespace Asyncore.Tests.Http;

/// <summary>
/// Keep-alive answers that are not files cost the loop's thread no allocation: the request head is
/// parsed into segments of a reused buffer, the built-in page's answer is built once a second, and
/// the access log line is formatted into a reused buffer. Counted with
/// <see cref="GC.GetAllocatedBytesForCurrentThread"/> on the loop's thread, after a warm-up, over
/// real loopback requests sent one at a time and in pipelined batches of 16.
/// </summary>
public sealed class HttpAllocationTests(ITestOutputHelper output)
{
    private const int Requests = 2000;
    private const int Batch = 16;

    private static readonly byte[] Get = "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n"u8.ToArray();
    private static readonly byte[] Missing = "GET /missing HTTP/1.1\r\nHost: localhost\r\n\r\n"u8.ToArray();

    [Theory]
    [InlineData(1)]
    [InlineData(Batch)]
    public void TheBuiltInPageAllocatesNothingQuiet(int batch)
    {
        double perRequest = BytesPerRequest(new HttpServerOptions { Quiet = true }, Get, "HTTP/1.1 200 OK"u8, batch);
        // The two posted reads themselves cost a little; 8 bytes a request would show any real allocation.
        Assert.True(perRequest < 8, $"{perRequest:F1} bytes allocated per request (batches of {batch})");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(Batch)]
    public void TheBuiltInPageAllocatesNothingWithTheAccessLog(int batch)
    {
        var log = new LineCountingWriter();
        double perRequest = BytesPerRequest(new HttpServerOptions { Log = log }, Get, "HTTP/1.1 200 OK"u8, batch);
        Assert.True(perRequest < 8, $"{perRequest:F1} bytes allocated per logged request (batches of {batch})");
        Assert.True(log.Lines >= Requests, $"{log.Lines} log lines");
        Assert.Matches(@"^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d\d:\d\d\] ""GET / HTTP/1\.1"" 200 \d+ ""-"" ""test""$", log.Last);
    }

    [Fact]
    public void TheAccessLogToAStreamAllocatesNothing()
    {
        // Console.Out's shape: a synchronized StreamWriter that flushes every line.
        using var stream = new StreamWriter(Stream.Null) { AutoFlush = true };
        double perRequest = BytesPerRequest(new HttpServerOptions { Log = TextWriter.Synchronized(stream) }, Get, "HTTP/1.1 200 OK"u8, Batch);
        Assert.True(perRequest < 8, $"{perRequest:F1} bytes allocated per request logged to a stream");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void NotFoundAllocatesNothing(bool quiet)
    {
        var log = new LineCountingWriter();
        double perRequest = BytesPerRequest(new HttpServerOptions { Quiet = quiet, Log = log }, Missing, "HTTP/1.1 404 Not Found"u8, Batch);
        Assert.True(perRequest < 8, $"{perRequest:F1} bytes allocated per 404");
        if (!quiet)
        {
            Assert.EndsWith("\"GET /missing HTTP/1.1\" 404 28 \"-\" \"-\"", log.Last);
        }
    }

    /// <summary>Sends <paramref name="request"/> over one keep-alive connection, <paramref name="batch"/> at a time, and reads every answer.</summary>
    private double BytesPerRequest(HttpServerOptions options, byte[] request, ReadOnlySpan<byte> statusLine, int batch)
    {
        HttpServer server = null!;
        using var loop = new LoopThread(map => server = new HttpServer(new IPEndPoint(IPAddress.Loopback, 0), options, map));
        using Socket client = Connect(server.Address);
        int answerLength = AnswerLength(client, request, statusLine);
        var exchange = new Exchange(client, request, answerLength, batch);
        exchange.Run(Requests, statusLine); // warm-up: buffers grown, code tiered
        long before = loop.OnLoop(GC.GetAllocatedBytesForCurrentThread);
        exchange.Run(Requests, statusLine);
        long after = loop.OnLoop(GC.GetAllocatedBytesForCurrentThread);
        double perRequest = (after - before) / (double)Requests;
        output.WriteLine($"{perRequest:F2} bytes per request ({after - before} bytes for {Requests})");
        return perRequest;
    }

    internal static Socket Connect(IPEndPoint at)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000, NoDelay = true };
        s.Connect(at);
        return s;
    }

    /// <summary>One answer read by its head and Content-Length; every later answer to the same request has its length (Date is fixed-width).</summary>
    internal static int AnswerLength(Socket client, byte[] request, ReadOnlySpan<byte> statusLine)
    {
        client.Send(request);
        var received = new List<byte>();
        byte[] one = new byte[1];
        while (received.Count < 4 || !received[^4..].SequenceEqual("\r\n\r\n"u8.ToArray()))
        {
            Assert.Equal(1, client.Receive(one));
            received.Add(one[0]);
        }

        string head = Encoding.ASCII.GetString([.. received]);
        Assert.StartsWith(Encoding.ASCII.GetString(statusLine), head);
        const string field = "\r\nContent-Length: ";
        int at = head.IndexOf(field, StringComparison.Ordinal) + field.Length;
        Assert.True(Utf8Parser.TryParse(Encoding.ASCII.GetBytes(head[at..]), out int bodyLength, out _));
        byte[] body = new byte[bodyLength];
        ReadExactly(client, body);
        return received.Count + bodyLength;
    }

    internal static void ReadExactly(Socket client, Span<byte> buffer)
    {
        for (int got = 0; got < buffer.Length;)
        {
            int n = client.Receive(buffer[got..]);
            Assert.True(n > 0, "the server closed the connection");
            got += n;
        }
    }

    /// <summary>Requests sent <c>batch</c> at a time in one write, and their answers read back whole.</summary>
    internal sealed class Exchange
    {
        private readonly Socket _client;
        private readonly byte[] _requests;
        private readonly byte[] _answers;
        private readonly int _answerLength;
        private readonly int _batch;

        public Exchange(Socket client, byte[] request, int answerLength, int batch)
        {
            _client = client;
            _batch = batch;
            _answerLength = answerLength;
            _requests = new byte[request.Length * batch];
            for (int i = 0; i < batch; i++)
            {
                request.CopyTo(_requests, i * request.Length);
            }

            _answers = new byte[answerLength * batch];
        }

        public void Run(int requests, ReadOnlySpan<byte> statusLine)
        {
            for (int i = 0; i < requests; i += _batch)
            {
                Assert.Equal(_requests.Length, _client.Send(_requests));
                ReadExactly(_client, _answers);
                for (int a = 0; a < _batch; a++)
                {
                    Assert.True(_answers.AsSpan(a * _answerLength).StartsWith(statusLine), "an answer is not where it should be");
                }
            }
        }
    }

    /// <summary>An access log that counts its lines and keeps the last one, without allocating per line.</summary>
    private sealed class LineCountingWriter : TextWriter
    {
        private readonly char[] _line = new char[1024];
        private int _length;
        private int _lastLength;
        private volatile int _lines;

        public override Encoding Encoding => Encoding.UTF8;

        public int Lines => _lines;

        public string Last
        {
            get
            {
                lock (this)
                {
                    return new string(_line, 0, _lastLength);
                }
            }
        }

        public override void Write(char value)
        {
            lock (this)
            {
                if (value == '\n')
                {
                    _lastLength = _length > 0 && _line[_length - 1] == '\r' ? _length - 1 : _length;
                    _length = 0;
                    _lines++;
                }
                else if (_length < _line.Length)
                {
                    _line[_length++] = value;
                }
            }
        }

        public override void Write(char[] buffer, int index, int count) => Write(buffer.AsSpan(index, count));

        public override void Write(ReadOnlySpan<char> buffer)
        {
            foreach (char c in buffer)
            {
                Write(c);
            }
        }

        public override void Write(string? value) => Write(value.AsSpan());

        public override void WriteLine(ReadOnlySpan<char> buffer)
        {
            Write(buffer);
            Write(CoreNewLine);
        }

        public override void WriteLine(string? value) => WriteLine(value.AsSpan());
    }
}

/// <summary>
/// Pipelined requests that arrive in one read are answered one at a time, as nginx answers them: the
/// next request is framed once the answer before it is sent (<see cref="AsyncChat.HoldInputUntilSent"/>),
/// so a batch of 16 costs 16 sends, no more (no extra pass, no send per block), and every answer is
/// made knowing what happened before it (a drain's <c>Connection: close</c> lands on the last one).
/// Sends are counted through the library's bytes-sent instrument on the loop's thread, so this runs alone.
/// </summary>
[Collection(ProcessWide.Name)]
public sealed class HttpPipelineSendTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void APipelinedBatchIsAnsweredWithOneSendPerAnswer(bool quiet)
    {
        const int batch = 16;
        const int batches = 50;
        byte[] request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"u8.ToArray();
        HttpServer server = null!;
        var options = new HttpServerOptions { Quiet = quiet, Log = TextWriter.Null };
        using var loop = new LoopThread(map => server = new HttpServer(new IPEndPoint(IPAddress.Loopback, 0), options, map));
        int loopThread = loop.OnLoop(() => Environment.CurrentManagedThreadId);
        using Socket client = HttpAllocationTests.Connect(server.Address);
        int answerLength = HttpAllocationTests.AnswerLength(client, request, "HTTP/1.1 200 OK"u8);
        var exchange = new HttpAllocationTests.Exchange(client, request, answerLength, batch);

        int sends = 0;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == AsyncoreMetrics.MeterName && instrument.Name == AsyncoreMetrics.BytesSent)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, _, _, _) =>
        {
            if (Environment.CurrentManagedThreadId == loopThread)
            {
                Interlocked.Increment(ref sends);
            }
        });
        loop.OnLoop(() => 0); // the first answer's send is recorded before counting starts
        listener.Start();
        var perBatch = new List<int>();
        for (int i = 0; i < batches; i++)
        {
            exchange.Run(batch, "HTTP/1.1 200 OK"u8);
            loop.OnLoop(() => 0); // a send's count is recorded after its bytes left
            perBatch.Add(Interlocked.Exchange(ref sends, 0));
        }

        listener.Dispose();
        Assert.True(perBatch.All(n => n == batch), $"sends per batch: {string.Join(' ', perBatch)}");
    }
}
