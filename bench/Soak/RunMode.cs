using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Soak;

/// <summary>
/// <c>Soak run</c>: per backend, a server child and a churn child (one after the other, server on
/// CPU 0 and churn on CPU 1; or all at once with <c>--parallel</c>), then the report: a markdown
/// file and one TSV of samples and one log per backend in <c>--out</c>.
/// </summary>
static class RunMode
{
    public static int Run(Options o, IEnumerable<string> commandLine)
    {
        string[] backends = o.Text("backends", "epoll,poll,select").Split(',', StringSplitOptions.RemoveEmptyEntries);
        int seconds = o.Int("seconds", 600);
        double rate = o.Double("rate", 1000);
        double idle = o.Double("idle-timeout", 5);
        int warmup = o.Int("warmup", Math.Min(60, seconds / 2));
        int sample = o.Int("sample", 10);
        int maxRssMib = o.Int("max-rss-mib", 4096);
        bool parallel = o.Flag("parallel");
        bool pin = !parallel && !o.Flag("no-pin") && Environment.ProcessorCount >= 2 && File.Exists("/usr/bin/taskset");
        string outDir = Path.GetFullPath(o.Text("out", "bench/results"));
        o.RejectUnknown();
        foreach (string b in backends)
        {
            Wire.Backend(b); // an unknown name fails before anything starts
        }

        Directory.CreateDirectory(outDir);
        string stamp = DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var setting = new Setting(seconds, rate, idle, warmup, sample, maxRssMib, pin, outDir, stamp);
        Console.Error.WriteLine($"soak: {string.Join(", ", backends)} for {seconds} s each at {rate:N0} connections/s{(parallel ? ", all at once" : ", one after the other")}; results in {outDir}/soak-{stamp}*");

        (ServerResult? Server, ChurnResult? Churn, string Backend)[] runs = parallel
            ? backends.Select(b => Task.Run(() => RunOne(b, setting))).ToArray().Select(t => t.Result).ToArray()
            : backends.Select(b => RunOne(b, setting)).ToArray();

        var rows = runs.Where(r => r.Server is not null).Select(r => (r.Server!, r.Churn)).ToList();
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Soak {stamp}");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"`Soak run {string.Join(' ', commandLine)}` on {Environment.ProcessorCount} CPUs, {Environment.OSVersion}, .NET {Environment.Version}.");
        md.AppendLine(CultureInfo.InvariantCulture, $"Per backend: {seconds} s of churn at {rate:N0} connections/s (5 % idle until reaped, 5 % leave mid-line, 5 % hang up before the answer), idle timeout {idle} s, a sample every {sample} s, trends and Post latency after the first {warmup} s; {(parallel ? "all backends at once" : "one backend after the other")}{(pin ? ", server on CPU 0, churn on CPU 1" : "")}.");
        md.AppendLine(CultureInfo.InvariantCulture, $"Flat: slope ≤ {Verdict.HeapBytesPerMinute / 1024:F0} KiB/min (live heap after a full collection), ≤ {Verdict.RssBytesPerMinute / 1024:F0} KiB/min (RSS), ≤ {Verdict.DescriptorsPerMinute} descriptors/min.");
        md.AppendLine();
        md.Append(Report.Table(rows));
        md.AppendLine();
        md.Append(Report.Traffic(rows));
        foreach (var failed in runs.Where(r => r.Server is null))
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"\n{failed.Backend}: the server gave no result; see soak-{stamp}-{failed.Backend}.log");
        }

        string mdPath = Path.Combine(outDir, $"soak-{stamp}.md");
        File.WriteAllText(mdPath, md.ToString());
        Console.WriteLine(md.ToString());
        Console.Error.WriteLine($"soak: wrote {mdPath}");
        bool pass = runs.All(r => r.Server is { Flat: true, PostWithinMark: true, LoopStopped: true, Errors: 0 } && r.Churn is { Failures: 0, Skipped: 0 });
        return pass ? 0 : 1;
    }

    private sealed record Setting(int Seconds, double Rate, double Idle, int Warmup, int Sample, int MaxRssMib, bool Pin, string OutDir, string Stamp);

    private static (ServerResult?, ChurnResult?, string) RunOne(string backend, Setting s)
    {
        string I(double v) => v.ToString(CultureInfo.InvariantCulture);
        using var log = TextWriter.Synchronized(new StreamWriter(Path.Combine(s.OutDir, $"soak-{s.Stamp}-{backend}.log")) { AutoFlush = true });
        var listening = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        ServerResult? serverResult = null;
        using var endedEarly = new ManualResetEventSlim();
        ChurnResult? churnResult = null;
        Process server = Children.Start(
            ["server", "--backend", backend, "--seconds", I(s.Seconds), "--warmup", I(s.Warmup), "--sample", I(s.Sample),
             "--idle-timeout", I(s.Idle), "--max-rss-mib", I(s.MaxRssMib), "--tsv", Path.Combine(s.OutDir, $"soak-{s.Stamp}-{backend}.tsv"), "--stdin-eof-stops"],
            s.Pin ? 0 : null,
            line =>
            {
                if (line.StartsWith(Wire.Listening, StringComparison.Ordinal))
                {
                    listening.TrySetResult(int.Parse(line.AsSpan(Wire.Listening.Length), CultureInfo.InvariantCulture));
                }
                else if (line.StartsWith(Wire.Result, StringComparison.Ordinal))
                {
                    serverResult = Wire.Decode<ServerResult>(line[Wire.Result.Length..]);
                }
                else if (line.StartsWith(Wire.EndedEarly, StringComparison.Ordinal))
                {
                    endedEarly.Set();
                }

                log.WriteLine($"server: {line}");
            });
        if (!listening.Task.Wait(TimeSpan.FromSeconds(60)))
        {
            log.WriteLine("soak: the server did not start listening within 60 s");
            Children.WaitOrKill(server, TimeSpan.Zero);
            return (null, null, backend);
        }

        Console.Error.WriteLine($"soak: {backend} server on 127.0.0.1:{listening.Task.Result}, churn for {s.Seconds} s");
        Process churn = Children.Start(
            ["churn", "--port", I(listening.Task.Result), "--seconds", I(s.Seconds), "--rate", I(s.Rate), "--idle-timeout", I(s.Idle), "--stdin-eof-stops"],
            s.Pin ? 1 : null,
            line =>
            {
                if (line.StartsWith(Wire.Result, StringComparison.Ordinal))
                {
                    churnResult = Wire.Decode<ChurnResult>(line[Wire.Result.Length..]);
                }

                log.WriteLine($"churn: {line}");
            });
        // The churn ends by itself after --seconds, or when told to because the server's sampling ended early.
        var churnLimit = Stopwatch.StartNew();
        while (!churn.WaitForExit(200) && churnLimit.Elapsed < TimeSpan.FromSeconds(s.Seconds + s.Idle + 60))
        {
            if (endedEarly.IsSet)
            {
                churn.StandardInput.Close();
                break;
            }
        }

        if (!Children.WaitOrKill(churn, TimeSpan.FromSeconds(s.Idle + 30)))
        {
            log.WriteLine("soak: the churn did not end in time and was killed");
        }

        server.StandardInput.Close(); // the server stops, reports and exits
        if (!Children.WaitOrKill(server, TimeSpan.FromSeconds(120))) // Post drain 35 s + loop stop 65 s + margin
        {
            log.WriteLine("soak: the server did not exit in time and was killed");
        }

        return (serverResult, churnResult, backend);
    }
}
