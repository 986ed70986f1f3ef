using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using Asyncore;

namespace Soak;

/// <summary>
/// <c>Soak server</c>: the line server on one backend under <see cref="EventLoop.RunAsync"/>, the
/// Post probe, and a sample every <c>--sample</c> seconds up to <c>--seconds</c>. It then keeps
/// serving until SIGINT/SIGTERM, end of standard input (with <c>--stdin-eof-stops</c>), or
/// <c>--seconds</c> + <c>--grace</c>, and prints its result. A process that grows past
/// <c>--max-rss-mib</c> (a leak at full churn) ends its sampling early, so that a soak of a leaking
/// build does not take the machine's memory with it.
/// </summary>
static class ServerMode
{
    public static int Run(Options o)
    {
        string backendName = o.Text("backend", "epoll");
        PollerKind backend = Wire.Backend(backendName);
        int seconds = o.Int("seconds", 600);
        int sampleEvery = o.Int("sample", 10);
        int warmup = o.Int("warmup", Math.Min(60, seconds / 2));
        double idle = o.Double("idle-timeout", 5);
        int postEveryMs = o.Int("post-every-ms", 2);
        int port = o.Int("port", 0);
        string? tsvPath = o.Has("tsv") ? o.Text("tsv", "") : null;
        bool stdinStops = o.Flag("stdin-eof-stops");
        int grace = o.Int("grace", 120);
        long maxRss = o.Int("max-rss-mib", 4096) * 1024L * 1024;
        o.RejectUnknown();

        using var stop = new ManualResetEventSlim();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; stop.Set(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stop.Set(); });
        if (stdinStops)
        {
            Children.OnStdinEof(stop.Set);
        }

        var map = new SocketMap();
        var counters = new ServerCounters();
        var listener = new LineListener(new IPEndPoint(IPAddress.Loopback, port), map, counters, TimeSpan.FromSeconds(idle));
        long start = Stopwatch.GetTimestamp();
        var probe = new PostProbe(map, postEveryMs, start + warmup * Stopwatch.Frequency);
        using var cancel = new CancellationTokenSource();
        Task loop = EventLoop.RunAsync(map, backend, cancel.Token);
        probe.Start();

        // The control: a second loop in the same process and on the same CPU, with no channels, posted
        // to at the same rate. Its Post latency is what the machine, the runtime and the wake-up cost on
        // their own; the soak's loop can be no faster than that.
        var controlMap = new SocketMap();
        Task controlLoop = EventLoop.RunAsync(controlMap, backend, cancel.Token);
        var control = new PostProbe(controlMap, postEveryMs, start + warmup * Stopwatch.Frequency);
        control.Start();

        using StreamWriter? tsv = tsvPath is null ? null : new StreamWriter(tsvPath) { AutoFlush = true };
        tsv?.WriteLine(Sample.Header);
        var samples = new List<Sample>(seconds / sampleEvery + 2);
        void Take()
        {
            Sample s = Sample.Take(Stopwatch.GetElapsedTime(start).TotalSeconds, counters, map, probe, control);
            samples.Add(s);
            tsv?.WriteLine(s.ToTsv());
        }

        Take(); // the baseline, before any connection
        string? endedEarly = null;
        Console.WriteLine($"{Wire.Listening}{listener.Port}");
        Console.Out.Flush();
        for (int k = 1; k * sampleEvery <= seconds; k++)
        {
            TimeSpan due = TimeSpan.FromSeconds(k * sampleEvery) - Stopwatch.GetElapsedTime(start);
            if (stop.Wait(due > TimeSpan.Zero ? due : TimeSpan.Zero))
            {
                break;
            }

            Take();
            if (samples[^1].Rss > maxRss)
            {
                endedEarly = $"RSS {samples[^1].Rss / (1024 * 1024)} MiB at {samples[^1].Seconds:F0} s, above the {maxRss / (1024 * 1024)} MiB bound";
                Console.WriteLine(Wire.EndedEarly + endedEarly);
                Console.Out.Flush();
                break;
            }
        }

        // The measured period ends with the sampling. Posts already made get RunAsync's whole poll
        // timeout (30 s) and a little more to run: a lost wake-up is measured, not cut off.
        probe.Stop(drain: TimeSpan.FromSeconds(35));
        control.Stop(drain: TimeSpan.FromSeconds(35));

        // Serve the churn's stragglers until told to stop (bounded all the same).
        TimeSpan left = TimeSpan.FromSeconds(seconds + grace) - Stopwatch.GetElapsedTime(start);
        stop.Wait(left > TimeSpan.Zero ? left : TimeSpan.Zero);
        cancel.Cancel();
        var stopping = Stopwatch.StartNew();
        bool stopped;
        string? loopError = null;
        try
        {
            // RunAsync's cancellation rides on Post: a lost wake-up shows here as a wait of up to
            // its 30 s poll timeout; two of those and more is "did not stop".
            stopped = loop.Wait(TimeSpan.FromSeconds(65));
        }
        catch (AggregateException e)
        {
            stopped = true;
            loopError = e.InnerException?.ToString() ?? e.ToString();
        }

        double stopSeconds = stopping.Elapsed.TotalSeconds;
        long openAtEnd = Interlocked.Read(ref counters.Open);
        if (stopped)
        {
            EventLoop.CloseAll(map, ignoreAll: true);
            map.Dispose();
        }

        if (controlLoop.Wait(TimeSpan.FromSeconds(5)))
        {
            controlMap.Dispose();
        }

        List<Sample> after = samples.Where(s => s.Seconds >= warmup - 0.5).ToList();
        Trend Fit(Func<Sample, double> value, double limit) => Trend.Fit(after.Select(s => (s.Seconds, value(s))).ToList(), limit);
        var result = new ServerResult(
            backendName,
            Stopwatch.GetElapsedTime(start).TotalSeconds,
            warmup,
            after.Count,
            counters.Accepted,
            counters.Answered,
            counters.IdleClosed,
            counters.PeerClosed,
            counters.Errors,
            counters.FirstError,
            openAtEnd,
            Fit(s => s.Heap, Verdict.HeapBytesPerMinute),
            Fit(s => s.Rss, Verdict.RssBytesPerMinute),
            Fit(s => s.Descriptors, Verdict.DescriptorsPerMinute),
            probe.Posted,
            probe.Ran,
            probe.Measured.Count,
            probe.Measured.Percentile(0.50),
            probe.Measured.Percentile(0.99),
            probe.Measured.Percentile(0.999),
            probe.Measured.MaxMicroseconds,
            probe.Measured.CountFromOneMillisecond(),
            probe.WithoutCollection.Percentile(0.999),
            probe.WithoutCollection.CountFromOneMillisecond(),
            control.Measured.Count,
            control.Measured.Percentile(0.999),
            control.Measured.CountFromOneMillisecond(),
            probe.DuringSampling.Count,
            probe.DuringSampling.MaxMicroseconds,
            probe.Warmup.MaxMicroseconds,
            stopped,
            stopSeconds,
            loopError,
            endedEarly);
        Console.WriteLine(Wire.Result + Wire.Encode(result));
        Console.Error.WriteLine(Report.Table([(result, null)]));
        return stopped && loopError is null ? 0 : 1;
    }
}
