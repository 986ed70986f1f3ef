using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Soak;

/// <summary>
/// <c>Soak churn</c>: opens <c>--rate</c> connections a second to the server for <c>--seconds</c>,
/// written on .NET's own async sockets so that a defect in the library under test cannot hide in
/// the client. Most connections send 1–3 lines, check every answer and close; a fraction
/// (<c>--idle</c>) go silent (half of them after one answered line) and wait for the server's idle
/// timeout to close them; a fraction (<c>--abort</c>) leave in the middle of a line, half with a
/// FIN, half with a reset; a fraction (<c>--hangup</c>) send a line and close without reading.
/// </summary>
static class ChurnMode
{
    public static int Run(Options o)
    {
        var server = new IPEndPoint(IPAddress.Loopback, o.Int("port", 0));
        int seconds = o.Int("seconds", 600);
        double rate = o.Double("rate", 1000);
        double idleShare = o.Double("idle", 0.05), abortShare = o.Double("abort", 0.05), hangupShare = o.Double("hangup", 0.05);
        var idleTimeout = TimeSpan.FromSeconds(o.Double("idle-timeout", 5));
        int maxInFlight = o.Int("max-in-flight", 4096);
        bool stdinStops = o.Flag("stdin-eof-stops");
        o.RejectUnknown();
        if (server.Port == 0)
        {
            throw new ArgumentException("--port is required");
        }

        using var stop = new ManualResetEventSlim();
        if (stdinStops)
        {
            Children.OnStdinEof(stop.Set);
        }

        var churn = new Churn(server, idleTimeout);
        var random = new Random(12345);
        var clock = Stopwatch.StartNew();
        long launched = 0;
        long total = (long)(rate * seconds);
        while (launched < total && !stop.IsSet)
        {
            long due = Math.Min(total, (long)(clock.Elapsed.TotalSeconds * rate));
            for (; launched < due; launched++)
            {
                if (churn.InFlight >= maxInFlight)
                {
                    churn.Skip();
                    continue;
                }

                double r = random.NextDouble();
                ConnectionKind kind = r < idleShare ? ConnectionKind.Idle
                    : r < idleShare + abortShare ? ConnectionKind.Abort
                    : r < idleShare + abortShare + hangupShare ? ConnectionKind.Hangup
                    : ConnectionKind.Request;
                churn.Launch(launched, kind);
            }

            Thread.Sleep(1);
        }

        double churnSeconds = clock.Elapsed.TotalSeconds;
        // Let the last connections finish or fail by their own timeouts (unless told to stop): only
        // then are the ones still open cut, and counted as cut rather than failed.
        churn.WaitForAll(stop);
        ChurnResult result = churn.Result(churnSeconds, launched);
        Console.WriteLine(Wire.Result + Wire.Encode(result));
        return 0;
    }
}

enum ConnectionKind
{
    Request,
    Idle,
    Abort,
    Hangup,
}

/// <summary>The connections in flight and how they ended.</summary>
sealed class Churn
{
    /// <summary>How long a request connection may take from connect to its last answer; an idle one gets the idle timeout on top.</summary>
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    private readonly IPEndPoint _server;
    private readonly TimeSpan _idleTimeout;
    private readonly CancellationTokenSource _end = new();
    private readonly LatencyHistogram _requestTimes = new(binMicroseconds: 100); // up to 10 s
    private readonly Lock _reapLock = new();
    private long _inFlight, _skipped, _requests, _requestsOk, _badReplies, _timeouts, _connectErrors, _otherErrors;
    private long _idle, _idleReaped, _idleEarly, _idleNotReaped, _cut, _aborted, _hungUp;
    private double _reapMin = double.NaN, _reapMax = double.NaN;
    private string? _firstError;

    public Churn(IPEndPoint server, TimeSpan idleTimeout)
    {
        _server = server;
        _idleTimeout = idleTimeout;
    }

    public long InFlight => Interlocked.Read(ref _inFlight);

    public void Skip() => Interlocked.Increment(ref _skipped);

    public void Launch(long id, ConnectionKind kind)
    {
        Interlocked.Increment(ref _inFlight);
        _ = RunOne(id, kind);
    }

    /// <summary>Waits for every connection to end (each is bounded by its own timeout), or for <paramref name="stop"/>, then cuts the rest.</summary>
    public void WaitForAll(ManualResetEventSlim stop)
    {
        TimeSpan limit = RequestTimeout + _idleTimeout + TimeSpan.FromSeconds(2);
        var sw = Stopwatch.StartNew();
        while (InFlight > 0 && sw.Elapsed < limit && !stop.IsSet)
        {
            Thread.Sleep(10);
        }

        _end.Cancel();
        sw.Restart();
        while (InFlight > 0 && sw.Elapsed < TimeSpan.FromSeconds(5))
        {
            Thread.Sleep(10);
        }
    }

    public ChurnResult Result(double seconds, long launched)
    {
        lock (_reapLock)
        {
            return new ChurnResult(
                seconds, launched / seconds, launched, _skipped,
                _requests, _requestsOk, _badReplies, _timeouts, _connectErrors, _otherErrors, _firstError,
                _idle, _idleReaped, _idleEarly, _idleNotReaped, _cut, _reapMin, _reapMax,
                _aborted, _hungUp,
                _requestTimes.Percentile(0.50) / 1000, _requestTimes.Percentile(0.99) / 1000);
        }
    }

    private async Task RunOne(long id, ConnectionKind kind)
    {
        TimeSpan limit = kind == ConnectionKind.Idle ? RequestTimeout + _idleTimeout : RequestTimeout;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_end.Token);
        timeout.CancelAfter(limit);
        CancellationToken ct = timeout.Token;
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        bool connected = false;
        try
        {
            await socket.ConnectAsync(_server, ct);
            connected = true;
            switch (kind)
            {
                case ConnectionKind.Request:
                    Interlocked.Increment(ref _requests);
                    long began = Stopwatch.GetTimestamp();
                    if (await Exchange(socket, id, 1 + (int)(id % 3), ct))
                    {
                        _requestTimes.Add(Stopwatch.GetTimestamp() - began);
                        Interlocked.Increment(ref _requestsOk);
                    }

                    break;
                case ConnectionKind.Idle:
                    Interlocked.Increment(ref _idle);
                    if (id % 2 == 0 && !await Exchange(socket, id, 1, ct))
                    {
                        break;
                    }

                    await AwaitReap(socket, ct);
                    break;
                case ConnectionKind.Abort:
                    Interlocked.Increment(ref _aborted);
                    await socket.SendAsync(Encoding.ASCII.GetBytes($"line {id} that never ends"), ct);
                    if (id % 2 == 0)
                    {
                        socket.LingerState = new LingerOption(true, 0); // close with a reset
                    }

                    break;
                case ConnectionKind.Hangup:
                    Interlocked.Increment(ref _hungUp);
                    await socket.SendAsync(Encoding.ASCII.GetBytes($"line {id} nobody reads\r\n"), ct);
                    break;
            }
        }
        catch (OperationCanceledException) when (_end.IsCancellationRequested)
        {
            Interlocked.Increment(ref _cut); // still open when the run was stopped
        }
        catch (OperationCanceledException) when (kind == ConnectionKind.Idle)
        {
            Fail(ref _idleNotReaped, $"idle {id}: not closed within {limit.TotalSeconds:F0} s");
        }
        catch (OperationCanceledException)
        {
            Fail(ref _timeouts, $"{kind} {id}: no answer within {limit.TotalSeconds:F0} s");
        }
        catch (SocketException e) when (!connected)
        {
            Fail(ref _connectErrors, $"connect: {e.SocketErrorCode}");
        }
        catch (Exception e)
        {
            Fail(ref _otherErrors, $"{kind} {id}: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>Sends <paramref name="lines"/> lines in one write and checks that the answers are their echoes, in order.</summary>
    private async Task<bool> Exchange(Socket socket, long id, int lines, CancellationToken ct)
    {
        var request = new StringBuilder();
        var expected = new StringBuilder();
        for (int i = 0; i < lines; i++)
        {
            string line = $"line {id}.{i} of the soak churn";
            request.Append(line).Append("\r\n");
            expected.Append("echo: ").Append(line).Append("\r\n");
        }

        await socket.SendAsync(Encoding.ASCII.GetBytes(request.ToString()), ct);
        byte[] want = Encoding.ASCII.GetBytes(expected.ToString());
        byte[] got = new byte[want.Length];
        int have = 0;
        while (have < got.Length)
        {
            int n = await socket.ReceiveAsync(got.AsMemory(have), ct);
            if (n == 0)
            {
                Fail(ref _badReplies, $"request {id}: the server closed after {have} of {want.Length} bytes");
                return false;
            }

            have += n;
        }

        if (!got.AsSpan().SequenceEqual(want))
        {
            Fail(ref _badReplies, $"request {id}: answered '{Encoding.ASCII.GetString(got).TrimEnd()}'");
            return false;
        }

        return true;
    }

    /// <summary>Silent until the server closes; the close must come about one idle timeout after the last byte.</summary>
    private async Task AwaitReap(Socket socket, CancellationToken ct)
    {
        long silentSince = Stopwatch.GetTimestamp();
        int n;
        try
        {
            n = await socket.ReceiveAsync(new byte[1], ct);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            n = 0;
        }

        long ticks = Stopwatch.GetTimestamp() - silentSince;
        if (n != 0)
        {
            Fail(ref _badReplies, "idle connection: the server sent bytes nobody asked for");
        }
        else if (ticks < _idleTimeout.TotalSeconds * 0.9 * Stopwatch.Frequency)
        {
            Fail(ref _idleEarly, $"idle connection closed after {ticks / (double)Stopwatch.Frequency:F2} s, before the idle timeout");
        }
        else
        {
            double seconds = ticks / (double)Stopwatch.Frequency;
            lock (_reapLock)
            {
                _idleReaped++;
                _reapMin = double.IsNaN(_reapMin) ? seconds : Math.Min(_reapMin, seconds);
                _reapMax = double.IsNaN(_reapMax) ? seconds : Math.Max(_reapMax, seconds);
            }
        }
    }

    private void Fail(ref long counter, string message)
    {
        Interlocked.Increment(ref counter);
        Interlocked.CompareExchange(ref _firstError, message, null);
    }
}
