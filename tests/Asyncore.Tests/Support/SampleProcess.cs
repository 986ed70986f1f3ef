using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;

namespace Asyncore.Tests.Support;

/// <summary>
/// A sample program run as a new user runs it: its own executable (the test build copies every
/// sample next to the tests), its own process, real arguments; stdout and stderr collected.
/// </summary>
internal sealed partial class SampleProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _stdout = new();
    private readonly List<string> _stderr = new();

    private SampleProcess(string name, IEnumerable<string> args)
        : this([PathOf(name)], args)
    {
    }

    /// <param name="command">The program's executable, after whatever runs it (a shell that sets a limit, setpriv).</param>
    /// <param name="args">The program's arguments.</param>
    private SampleProcess(string[] command, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in command[1..].Concat(args))
        {
            psi.ArgumentList.Add(a);
        }

        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) => Add(_stdout, e.Data);
        _process.ErrorDataReceived += (_, e) => Add(_stderr, e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>The sample's executable in the test output folder.</summary>
    public static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, name);

    public int Id => _process.Id;

    public string[] Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToArray();
            }
        }
    }

    public string[] Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToArray();
            }
        }
    }

    private static void Add(List<string> into, string? line)
    {
        if (line is not null)
        {
            lock (into)
            {
                into.Add(line);
            }
        }
    }

    /// <summary>Runs the program to its end (at most 30 s) and returns its exit code and output.</summary>
    public static (int ExitCode, string[] Stdout, string[] Stderr) Run(string name, params string[] args)
    {
        using var p = new SampleProcess(name, args);
        Assert.True(p._process.WaitForExit(30_000), $"{name} did not exit");
        p._process.WaitForExit(); // the output readers are done too
        return (p._process.ExitCode, p.Stdout, p.Stderr);
    }

    /// <summary>Starts a server with --port 0 (plus <paramref name="args"/>) and waits until it says where it listens.</summary>
    public static SampleProcess StartServer(string name, out IPEndPoint address, params string[] args) =>
        StartServerWith(name, out address, ["--port", "0", .. args]);

    /// <summary>Starts a server with exactly <paramref name="args"/> (a fixed --port, say) and waits until it says where it listens.</summary>
    public static SampleProcess StartServerWith(string name, out IPEndPoint address, params string[] args) =>
        WaitUntilListening(new SampleProcess(name, args), name, out address);

    /// <summary>
    /// Starts a server with --port 0 (plus <paramref name="args"/>) under <paramref name="launcher"/>
    /// (the launcher's command line, which ends by running the program named after it) and waits until it says where it listens.
    /// </summary>
    public static SampleProcess StartServerUnder(string[] launcher, string name, out IPEndPoint address, params string[] args) =>
        WaitUntilListening(new SampleProcess([.. launcher, PathOf(name)], ["--port", "0", .. args]), name, out address);

    private static SampleProcess WaitUntilListening(SampleProcess p, string name, out IPEndPoint address)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            foreach (string line in p.Stdout)
            {
                if (Listening().Match(line) is { Success: true } m)
                {
                    address = IPEndPoint.Parse(m.Groups[1].Value);
                    return p;
                }
            }

            if (p._process.HasExited)
            {
                break;
            }

            Thread.Sleep(20);
        }

        string said = string.Join("\n", p.Stdout.Concat(p.Stderr));
        p.Dispose();
        throw new InvalidOperationException($"{name} did not say where it listens: {said}");
    }

    /// <summary>The resident set size now, from /proc/PID/status, in bytes.</summary>
    public long ResidentBytes()
    {
        foreach (string line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
            }
        }

        throw new InvalidOperationException("no VmRSS");
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Sends SIGTERM and returns at once (the server drains meanwhile).</summary>
    public void Terminate() => Native.Kill(_process.Id, Native.SIGTERM);

    /// <summary>Waits for the process to end and returns its exit code; null when it is still running after <paramref name="timeout"/>.</summary>
    public int? WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            return null;
        }

        _process.WaitForExit(); // the output readers are done too
        return _process.ExitCode;
    }

    /// <summary>Waits (up to <paramref name="timeout"/>) until a line of standard output matches <paramref name="match"/>.</summary>
    public bool WaitForLine(Func<string, bool> match, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (Stdout.Any(match))
            {
                return true;
            }

            Thread.Sleep(20);
        }

        return Stdout.Any(match);
    }

    /// <summary>Ctrl+C's twin, SIGTERM; then waits for the exit code.</summary>
    public int Stop()
    {
        Native.Kill(_process.Id, Native.SIGTERM);
        if (!_process.WaitForExit(10_000))
        {
            _process.Kill();
        }

        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(10_000);
        }

        _process.Dispose();
    }

    // "... on 127.0.0.1:PORT" or "http://127.0.0.1:PORT/" in the first lines every server prints.
    [GeneratedRegex(@"(?:on |https?://)((?:\d+\.){3}\d+:\d+|\[[0-9a-fA-F:]+\]:\d+)")]
    private static partial Regex Listening();
}
