using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Samples.Http;
using Asyncore.Samples.Line;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Robustness;

/// <summary>
/// One loop serves the line and HTTP samples while hundreds of clients misbehave (partial messages,
/// resets, half-closes, floods without a terminator, slowloris, never reading, garbage) next to
/// well-behaved clients. Bounded to well under a minute. At the end: every well-behaved request was
/// answered correctly, memory stayed bounded, the descriptors are back where they started and the
/// loop is alive.
/// </summary>
[Collection(ProcessWide.Name)]
public class ChaosTests
{
    private static readonly TimeSpan HostileFor = TimeSpan.FromSeconds(6);

    [Fact]
    public async Task TheLoopSurvivesHostilePeersAndLosesNoWellBehavedRequest()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        EndPoint lineAt = null!;
        IPEndPoint httpAt = null!;
        var loop = new LoopThread(map =>
        {
            lineAt = new LineServer(new IPEndPoint(IPAddress.Loopback, 0), map).Address;
            httpAt = new HttpServer(
                new IPEndPoint(IPAddress.Loopback, 0),
                new HttpServerOptions { Quiet = true, RequestTimeout = TimeSpan.FromSeconds(1.5), BodyReadTimeout = TimeSpan.FromSeconds(1.5), IdleTimeout = TimeSpan.FromSeconds(2.5), OutputLimit = 8 << 20 },
                map).Address;
        });
        // The runtime's own async socket engine (its epoll and pipe descriptors) starts on first
        // use and stays: start it before counting, with one async client of each kind.
        Assert.Equal(40, await WellBehavedHttp(httpAt, -1));
        await Hostile(0, lineAt, CancellationToken.None);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        await Task.Delay(300);
        int descriptorsBefore = Native.OpenNetworkDescriptors();
        var namesBefore = Native.Descriptors();
        long memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        long rssBefore = Rss();
        long rssPeak = rssBefore;
        using var stop = new CancellationTokenSource(HostileFor);
        using var sampling = new CancellationTokenSource();
        Task sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                rssPeak = Math.Max(rssPeak, Rss());
                await Task.Delay(50);
            }
        });

        var hostile = new List<Task>();
        for (int i = 0; i < 320; i++)
        {
            int kind = i % 10;
            hostile.Add(Task.Run(() => Hostile(kind, kind % 2 == 0 ? lineAt : httpAt, stop.Token)));
        }

        var lineClients = Enumerable.Range(0, 20).Select(i => Task.Run(() => WellBehavedLine(lineAt, i))).ToList();
        var httpClients = Enumerable.Range(0, 10).Select(i => WellBehavedHttp(httpAt, i)).ToList();

        int[] lineAnswered = await Task.WhenAll(lineClients).WaitAsync(TimeSpan.FromSeconds(40));
        int[] httpAnswered = await Task.WhenAll(httpClients).WaitAsync(TimeSpan.FromSeconds(40));
        Assert.All(lineAnswered, n => Assert.Equal(50, n));
        Assert.All(httpAnswered, n => Assert.Equal(40, n));
        await Task.WhenAll(hostile).WaitAsync(TimeSpan.FromSeconds(20));

        long memoryDuring = GC.GetTotalMemory(forceFullCollection: true);
        Assert.True(memoryDuring - memoryBefore < 256L << 20, $"managed memory grew by {(memoryDuring - memoryBefore) >> 20} MiB");
        sampling.Cancel();
        await sampler;
        // What the whole process took at its peak for 320 hostile clients (floods, never-reading
        // clients, slowloris) and 30 well-behaved ones, over what it held before them.
        Assert.True(rssPeak - rssBefore <= 200L << 20, $"resident memory grew by {(rssPeak - rssBefore) >> 20} MiB at its peak");

        // Every connection the clients left is closed by the server: resets and EOFs at once,
        // the silent ones by the idle timeout.
        var sw = Stopwatch.StartNew();
        int channels = -1;
        while (sw.Elapsed < TimeSpan.FromSeconds(15))
        {
            var count = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            loop.Map.Post(() => count.SetResult(loop.Map.Count));
            channels = await count.Task.WaitAsync(TimeSpan.FromSeconds(10));
            if (channels == 2)
            {
                break;
            }

            await Task.Delay(100);
        }

        Assert.Equal(2, channels); // the two listeners

        // The loop is alive: a last well-behaved request on each server.
        Assert.Equal(50, await Task.Run(() => WellBehavedLine(lineAt, 99)));
        Assert.Equal(40, await WellBehavedHttp(httpAt, 99));

        GC.Collect();
        GC.WaitForPendingFinalizers();
        await Task.Delay(200);
        int descriptorsAfter = Native.OpenNetworkDescriptors();
        loop.Dispose(); // asserts the loop thread ended without an error
        var extra = Native.Descriptors().Where(kv => !namesBefore.ContainsKey(kv.Key) || namesBefore[kv.Key] != kv.Value).Select(kv => $"{kv.Key}->{kv.Value}");
        Assert.True(descriptorsBefore == descriptorsAfter, $"descriptors {descriptorsBefore} -> {descriptorsAfter}: new {string.Join(", ", extra)}");
    }

    /// <summary>The process's resident set (VmRSS), in bytes.</summary>
    private static long Rss()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
            }
        }

        return 0;
    }

    private static int WellBehavedLine(EndPoint at, int id)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 20_000 };
        s.Connect(at);
        using var stream = new NetworkStream(s);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        int answered = 0;
        for (int j = 0; j < 50; j++)
        {
            string line = $"client {id} line {j} {new string('z', j * 11)}";
            stream.Write(Encoding.ASCII.GetBytes(line + "\r\n"));
            if (reader.ReadLine() == "echo: " + line)
            {
                answered++;
            }
        }

        return answered;
    }

    private static async Task<int> WellBehavedHttp(IPEndPoint at, int id)
    {
        using var client = new HttpClient { BaseAddress = new Uri($"http://{at}/"), Timeout = TimeSpan.FromSeconds(20) };
        int answered = 0;
        for (int j = 0; j < 20; j++)
        {
            string page = await client.GetStringAsync("/");
            answered += page.StartsWith("Hello, World!", StringComparison.Ordinal) ? 1 : 0;
            var post = await client.PostAsync("/echo", new FormUrlEncodedContent([new("client", id.ToString()), new("n", j.ToString())]));
            answered += await post.Content.ReadAsStringAsync() == $"client={id}\nn={j}\n" ? 1 : 0;
        }

        return answered;
    }

    private static async Task Hostile(int kind, EndPoint at, CancellationToken stop)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await s.ConnectAsync(at, stop);
            switch (kind)
            {
                case 0: // a partial line, then gone
                    await s.SendAsync("half a li"u8.ToArray(), stop);
                    break;
                case 1: // a partial request, then a reset
                    await s.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n"u8.ToArray(), stop);
                    s.LingerState = new LingerOption(true, 0);
                    break;
                case 2: // requests, then a half-close, then never read
                    await s.SendAsync(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("never read\r\n", 2000))), stop);
                    s.Shutdown(SocketShutdown.Send);
                    await Task.Delay(HostileFor, stop);
                    break;
                case 3: // slowloris: one byte at a time, never a whole request
                    foreach (byte b in "GET / HTTP/1.1\r\nX-Slow: "u8.ToArray().Concat(Enumerable.Repeat((byte)'a', 1000)))
                    {
                        await s.SendAsync(new[] { b }, stop);
                        await Task.Delay(150, stop);
                    }

                    break;
                case 4: // a flood with no terminator
                    byte[] junk = new byte[64 * 1024];
                    Array.Fill(junk, (byte)'x');
                    for (int i = 0; i < 40; i++)
                    {
                        await s.SendAsync(junk, stop);
                    }

                    break;
                case 5: // garbage
                    byte[] garbage = new byte[5000];
                    Random.Shared.NextBytes(garbage);
                    await s.SendAsync(garbage, stop);
                    await Task.Delay(500, stop);
                    break;
                case 6: // many requests, read slowly
                    await s.SendAsync(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("slow reader\r\n", 500))), stop);
                    var small = new byte[512];
                    while (await s.ReceiveAsync(small, stop) > 0)
                    {
                        await Task.Delay(50, stop);
                    }

                    break;
                case 7: // connect and say nothing
                    await Task.Delay(HostileFor, stop);
                    break;
                case 8: // pipelined requests, then gone before reading the answers
                    await s.SendAsync(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("x\r\n", 100))), stop);
                    break;
                default: // a huge header
                    await s.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nX-Big: " + new string('b', 20_000) + "\r\n\r\n"), stop);
                    await Task.Delay(200, stop);
                    break;
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
        {
            // Hostile clients get cut off; that is the point.
        }
    }
}
