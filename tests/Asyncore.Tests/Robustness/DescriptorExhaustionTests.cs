using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Asyncore.Tests.Robustness;

/// <summary>
/// Running out of descriptors is a condition, not an error: the line server sample runs in a child
/// process with a low RLIMIT_NOFILE (and without the capability to raise it, as a normal user), is
/// flooded with connections past the limit, must not spin while they wait, and must serve again as
/// soon as descriptors free up.
/// </summary>
public class DescriptorExhaustionTests
{
    private const int Limit = 96;

    private static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    /// <summary>User plus system CPU time of a process, from /proc/PID/stat.</summary>
    private static TimeSpan CpuTime(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long ticks = long.Parse(f[11]) + long.Parse(f[12]); // utime, stime (fields 14 and 15)
        return TimeSpan.FromSeconds(ticks / 100.0);
    }

    private static string? Ask(int port, string line, TimeSpan within)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = (int)within.TotalMilliseconds };
        try
        {
            s.Connect(IPAddress.Loopback, port);
            s.Send(Encoding.ASCII.GetBytes(line + "\r\n"));
            var buf = new byte[256];
            int n = s.Receive(buf);
            return n > 0 ? Encoding.ASCII.GetString(buf, 0, n) : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    [Fact]
    public void AListenerOutOfDescriptorsPausesWithoutSpinningAndServesAgainWhenTheyFree()
    {
        Assert.True(File.Exists("/usr/bin/prlimit") && File.Exists("/usr/bin/setpriv"), "util-linux's prlimit and setpriv are needed (Debian: util-linux)");

        int port = FreePort();
        string dll = Path.Combine(AppContext.BaseDirectory, "LineServer.dll");
        var psi = new ProcessStartInfo("/usr/bin/setpriv")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // No CAP_SYS_RESOURCE (as a normal user): the hard limit stays where prlimit puts it.
        foreach (string a in new[] { "--bounding-set", "-sys_resource", "--", "/usr/bin/prlimit", $"--nofile={Limit}:{Limit}", "--", "dotnet", dll, "--port", port.ToString() })
        {
            psi.ArgumentList.Add(a);
        }

        using Process server = Process.Start(psi)!;
        var output = new StringBuilder();
        server.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        server.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        var clients = new List<Socket>();
        try
        {
            var ready = Stopwatch.StartNew();
            while (Ask(port, "hello", TimeSpan.FromSeconds(2)) is not { } first || !first.StartsWith("echo: hello", StringComparison.Ordinal))
            {
                Assert.True(ready.Elapsed < TimeSpan.FromSeconds(60) && !server.HasExited, $"the server did not start:\n{output}");
                Thread.Sleep(100);
            }

            // Twice the limit: the last ones find no descriptor left in the server.
            for (int i = 0; i < 2 * Limit; i++)
            {
                var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                c.Connect(IPAddress.Loopback, port); // completes from the backlog even when the server cannot accept
                clients.Add(c);
            }

            Thread.Sleep(1000);
            TimeSpan before = CpuTime(server.Id);
            Thread.Sleep(2000);
            TimeSpan used = CpuTime(server.Id) - before;
            Assert.False(server.HasExited, $"the server died:\n{output}");
            Assert.True(used < TimeSpan.FromSeconds(0.5), $"the server used {used.TotalSeconds:F2} s of CPU in 2 s while out of descriptors (a spin)\n{output}");

            foreach (Socket c in clients)
            {
                c.Dispose();
            }

            clients.Clear();
            var again = Stopwatch.StartNew();
            string? answer = null;
            while (again.Elapsed < TimeSpan.FromSeconds(15) && answer is null)
            {
                answer = Ask(port, "again", TimeSpan.FromSeconds(2));
                if (answer is null || !answer.StartsWith("echo: again", StringComparison.Ordinal))
                {
                    answer = null;
                    Thread.Sleep(100);
                }
            }

            Assert.True(answer is not null, $"no answer after the descriptors freed up\n{output}");
            Assert.True(again.Elapsed < TimeSpan.FromSeconds(5), $"served again only after {again.Elapsed}");
            string log;
            lock (output)
            {
                log = output.ToString();
            }

            Assert.Contains("accept() failed (Too many open files)", log);
        }
        finally
        {
            foreach (Socket c in clients)
            {
                c.Dispose();
            }

            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
            }

            server.WaitForExit(10_000);
        }
    }
}
