using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Integration;

/// <summary>
/// The HTTP sample behind the real HAProxy, with the README's "Behind HAProxy" configuration as a
/// user copies it (only the ports changed): two backend processes, one sent PROXY v1 (send-proxy),
/// one PROXY v2 (send-proxy-v2). The backends log the client's own address; then, under continuous
/// keep-alive load, each backend in turn is sent SIGTERM, drains, exits 0 and is started again on
/// its port, and every request of the load gets its right answer.
/// </summary>
public sealed class HaproxyTests : IDisposable
{
    private static readonly string BuiltInPage =
        "Hello, World!\nThis is the HTTP server sample of Asyncore (Python's asyncore and asynchat for .NET).\n";

    /// <summary>Where a client binds: another loopback address than the one HAProxy and the backends use.</summary>
    private static readonly IPAddress ClientAddress = IPAddress.Parse("127.0.0.2");

    private readonly string _work = Directory.CreateTempSubdirectory("asyncore-haproxy-").FullName;
    private readonly List<SampleProcess> _backends = new();
    private Process? _haproxy;
    private readonly StringBuilder _haproxyOutput = new();

    /// <summary>The haproxy executable, or null when it is not installed.</summary>
    public void Dispose()
    {
        if (_haproxy is { HasExited: false })
        {
            _haproxy.Kill();
            _haproxy.WaitForExit(10_000);
        }

        _haproxy?.Dispose();
        foreach (SampleProcess backend in _backends)
        {
            backend.Dispose();
        }

        Directory.Delete(_work, recursive: true);
    }

    /// <summary>The README's haproxy block, with its three ports replaced.</summary>
    private static string ReadmeConfig(int front, int a, int b)
    {
        string readme = File.ReadAllText(Path.Combine(DotnetCli.RepoRoot(), "README.md"));
        int at = readme.IndexOf("### Behind HAProxy", StringComparison.Ordinal);
        Assert.True(at >= 0, "README has no '### Behind HAProxy'");
        int start = readme.IndexOf("```haproxy\n", at, StringComparison.Ordinal) + "```haproxy\n".Length;
        int end = readme.IndexOf("\n```", start, StringComparison.Ordinal);
        string config = readme[start..end] + "\n";
        foreach (string address in new[] { "127.0.0.1:8080", "127.0.0.1:9001", "127.0.0.1:9002" })
        {
            Assert.Contains(address, config);
        }

        return config
            .Replace("127.0.0.1:8080", $"127.0.0.1:{front}", StringComparison.Ordinal)
            .Replace("127.0.0.1:9001", $"127.0.0.1:{a}", StringComparison.Ordinal)
            .Replace("127.0.0.1:9002", $"127.0.0.1:{b}", StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private void StartHaproxy(string config, int front)
    {
        string file = Path.Combine(_work, "haproxy.cfg");
        File.WriteAllText(file, config);
        var psi = new ProcessStartInfo(Needs.PathOf(Outside.Haproxy), ["-db", "-f", file])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        _haproxy = Process.Start(psi)!;
        _haproxy.OutputDataReceived += (_, e) => Append(e.Data);
        _haproxy.ErrorDataReceived += (_, e) => Append(e.Data);
        _haproxy.BeginOutputReadLine();
        _haproxy.BeginErrorReadLine();

        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            Assert.False(_haproxy.HasExited, $"haproxy exited: {HaproxyOutput}");
            try
            {
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                probe.Connect(new IPEndPoint(IPAddress.Loopback, front));
                return;
            }
            catch (SocketException)
            {
                Thread.Sleep(50);
            }
        }

        Assert.Fail($"haproxy did not listen: {HaproxyOutput}");
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_haproxyOutput)
            {
                _haproxyOutput.AppendLine(line);
            }
        }
    }

    private string HaproxyOutput
    {
        get
        {
            lock (_haproxyOutput)
            {
                return _haproxyOutput.ToString();
            }
        }
    }

    /// <summary>An HttpClient (keep-alive, as every HttpClient) whose connections leave from 127.0.0.2.</summary>
    private static HttpClient Client(int front)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            ConnectCallback = async (context, cancel) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(ClientAddress, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancel);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{front}/"), Timeout = TimeSpan.FromSeconds(20) };
    }

    private static string[] ClientLines(SampleProcess backend, string marker) =>
        backend.Stdout.Where(l => l.Contains($"\"GET /?{marker}", StringComparison.Ordinal)).ToArray();

    private SampleProcess Backend(int? port, out IPEndPoint at, string loops)
    {
        string[] args = ["--proxy-protocol", "--loops", loops];
        SampleProcess backend = port is { } p
            ? SampleProcess.StartServerWith("HttpServer", out at, ["--port", p.ToString(), .. args])
            : SampleProcess.StartServer("HttpServer", out at, args);
        _backends.Add(backend);
        return backend;
    }

    [NeedsFact(Outside.Haproxy)]
    public async Task BehindHaproxyTheBackendsLogTheClientAndARollingRestartLosesNoRequest()
    {
        var total = Stopwatch.StartNew();
        // a: two loops, sent PROXY v1; b: one loop, sent PROXY v2.
        SampleProcess a = Backend(null, out IPEndPoint atA, "2");
        SampleProcess b = Backend(null, out IPEndPoint atB, "1");
        int front = FreePort();
        StartHaproxy(ReadmeConfig(front, atA.Port, atB.Port), front);
        using HttpClient probeClient = Client(front);

        // 1. Both backends see the client's own address (127.0.0.2) as the first field of the access log.
        for (int i = 0; i < 200 && (ClientLines(a, "source").Length == 0 || ClientLines(b, "source").Length == 0); i++)
        {
            using HttpResponseMessage answer = await probeClient.GetAsync($"/?source-{i}");
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.Equal(BuiltInPage, await answer.Content.ReadAsStringAsync());
            await Task.Delay(20);
        }

        foreach (SampleProcess backend in new[] { a, b })
        {
            string[] lines = ClientLines(backend, "source");
            Assert.True(lines.Length > 0, $"a backend got no request through haproxy: {HaproxyOutput}");
            Assert.All(lines, l => Assert.StartsWith("127.0.0.2 - - [", l));
        }

        // 2. Continuous keep-alive load from a few clients while each backend in turn is stopped and started again.
        using var stop = new CancellationTokenSource();
        const int MaxPerClient = 20_000;
        var loadClock = Stopwatch.StartNew();
        int ok = 0;
        var errors = new List<string>();
        Task[] load = Enumerable.Range(0, 4).Select(c => Task.Run(async () =>
        {
            using HttpClient client = Client(front);
            for (int n = 0; n < MaxPerClient && !stop.IsCancellationRequested && loadClock.Elapsed < TimeSpan.FromSeconds(45); n++)
            {
                try
                {
                    using HttpResponseMessage answer = await client.GetAsync($"/?load-{c}-{n}");
                    string body = await answer.Content.ReadAsStringAsync();
                    if (answer.StatusCode == HttpStatusCode.OK && body == BuiltInPage)
                    {
                        Interlocked.Increment(ref ok);
                    }
                    else
                    {
                        lock (errors)
                        {
                            errors.Add($"load-{c}-{n}: {(int)answer.StatusCode} {body}");
                        }
                    }
                }
                catch (Exception e)
                {
                    lock (errors)
                    {
                        errors.Add($"load-{c}-{n}: {e.GetType().Name}: {e.Message}");
                    }
                }

                await Task.Delay(2);
            }
        })).ToArray();

        // Let the load reach both backends first.
        Assert.True(SpinWait.SpinUntil(() => ClientLines(a, "load").Length > 0 && ClientLines(b, "load").Length > 0, TimeSpan.FromSeconds(10)), "the load did not reach both backends");
        var restarted = new List<SampleProcess>();
        foreach ((SampleProcess old, IPEndPoint at, string loops) in new[] { (a, atA, "2"), (b, atB, "1") })
        {
            Assert.True(SpinWait.SpinUntil(() => ClientLines(old, "load").Length > 20, TimeSpan.FromSeconds(10)), "the backend served no load");
            old.Terminate();
            Assert.Equal(0, old.WaitForExit(TimeSpan.FromSeconds(15)));
            Assert.Contains(old.Stdout, l => l.StartsWith("stopped", StringComparison.Ordinal));
            SampleProcess again = Backend(at.Port, out _, loops);
            restarted.Add(again);

            // Back in service: haproxy's health checks saw it up and sent it client requests again.
            Assert.True(SpinWait.SpinUntil(() => ClientLines(again, "load").Length > 20, TimeSpan.FromSeconds(15)), $"the restarted backend got no load: {HaproxyOutput}");
        }

        await Task.Delay(500);
        stop.Cancel();
        await Task.WhenAll(load);

        Assert.True(errors.Count == 0, $"{errors.Count} of {ok + errors.Count} requests failed:\n{string.Join("\n", errors.Take(20))}\nhaproxy: {HaproxyOutput}");
        Assert.True(ok >= 200, $"only {ok} requests ran");
        Assert.All(restarted, r => Assert.NotEmpty(ClientLines(r, "load")));
        Assert.All(restarted.SelectMany(r => ClientLines(r, "load")), l => Assert.StartsWith("127.0.0.2 - - [", l));
        Assert.True(total.Elapsed < TimeSpan.FromSeconds(60), $"took {total.Elapsed}");
    }
}
