using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Support;
using Asyncore.Tests.Tls;

namespace Asyncore.Tests.Adoption;

/// <summary>
/// The README's code, as a new user copies it: the 20-line server and the RunAsync + logging
/// snippet are built in a new project against the library and run, over real sockets.
/// </summary>
public sealed class ReadmeTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("asyncore-readme-").FullName;
    private readonly string _readme = File.ReadAllText(Path.Combine(DotnetCli.RepoRoot(), "README.md"));

    public void Dispose() => Directory.Delete(_work, recursive: true);

    /// <summary>The first ```csharp block after <paramref name="marker"/>.</summary>
    private string CodeAfter(string marker)
    {
        int at = _readme.IndexOf(marker, StringComparison.Ordinal);
        Assert.True(at >= 0, $"README has no '{marker}'");
        int start = _readme.IndexOf("```csharp\n", at, StringComparison.Ordinal) + "```csharp\n".Length;
        int end = _readme.IndexOf("\n```", start, StringComparison.Ordinal);
        return _readme[start..end] + "\n";
    }

    private static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    /// <summary>A project as `dotnet new console` makes it, with the library the tests were built against.</summary>
    private string Project(string name, string program, string packages = "")
    {
        string dir = Path.Combine(_work, name);
        Directory.CreateDirectory(dir);
        DotnetCli.WriteConsoleProject(dir, name, $"""
            <Reference Include="Asyncore" HintPath="{Path.Combine(AppContext.BaseDirectory, "Asyncore.dll")}" />
                <PackageReference Include="Microsoft.Extensions.Logging.Abstractions" Version="10.0.0" />
                {packages}
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), program);
        DotnetCli.Run(dir, "build", "-c", "Release", "-v", "q", "-nologo");
        return Path.Combine(dir, "bin", "Release", "net10.0", name);
    }

    private static Process Start(string executable, string? workingDirectory = null)
    {
        var p = Process.Start(new ProcessStartInfo(executable)
        {
            WorkingDirectory = workingDirectory ?? string.Empty,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        return p;
    }

    private static string Ask(int port, string line)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 20_000 };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                s.Connect(new IPEndPoint(IPAddress.Loopback, port));
                break;
            }
            catch (SocketException) when (clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                Thread.Sleep(50); // the program is still starting
            }
        }

        s.Send(Encoding.UTF8.GetBytes(line));
        var answer = new MemoryStream();
        byte[] buf = new byte[256];
        while (!answer.ToArray().AsSpan().EndsWith("\r\n"u8) && s.Receive(buf) is > 0 and int n)
        {
            answer.Write(buf, 0, n);
        }

        return Encoding.UTF8.GetString(answer.ToArray());
    }

    [Fact]
    public void TheTwentyLineServerAndTheLoggingSnippetBuildAndRun()
    {
        string example = CodeAfter("## A line-protocol server in 20 lines");
        string snippet = CodeAfter("With logging to the console");
        Assert.Contains("7000", example);
        Assert.Contains("7000", snippet);
        int port = FreePort();

        // The example, with only its port changed (another program may hold 7000).
        string server = Project("example", example.Replace("7000", port.ToString()));
        using (var p = Start(server))
        {
            try
            {
                Assert.Equal("HELLO, CAFé € 123\r\n", Ask(port, "hello, café € 123\r\n"));
                Assert.Equal($"listening on 127.0.0.1:{port}", p.StandardOutput.ReadLine());
            }
            finally
            {
                p.Kill();
                p.WaitForExit();
            }
        }

        // The snippet uses the example's classes (its marker says so): they follow its top-level
        // statements in one file, as DocsCodeTests builds every block.
        DocsCodeTests.Block block = Assert.Single(DocsCodeTests.CSharpBlocks(), b => b.Code == snippet);
        Assert.Equal("A line-protocol server in 20 lines", block.With);
        string app = Project(
            "snippet",
            DocsCodeTests.ProgramOf(block).Replace("7000", port.ToString()),
            """<PackageReference Include="Microsoft.Extensions.Logging.Console" Version="10.0.0" />""");
        using (var p = Start(app))
        {
            Assert.Equal("HI\r\n", Ask(port, "hi\r\n"));
            p.StandardInput.WriteLine(); // "Enter stops the loop"
            Assert.True(p.WaitForExit(20_000), "the snippet did not stop after Enter");
            Assert.Equal(0, p.ExitCode);
        }
    }

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/>, retrying while the program starts.</summary>
    private static TcpClient ConnectWhenUp(int port)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var tcp = new TcpClient { ReceiveTimeout = 20_000 };
            try
            {
                tcp.Connect(IPAddress.Loopback, port);
                return tcp;
            }
            catch (SocketException) when (clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                tcp.Dispose();
                Thread.Sleep(50);
            }
        }
    }

    private static string ReadLine(Stream s)
    {
        var line = new List<byte>();
        int b;
        while ((b = s.ReadByte()) >= 0 && b != '\n')
        {
            line.Add((byte)b);
        }

        return Encoding.UTF8.GetString(line.ToArray()) + (b == '\n' ? "\n" : string.Empty);
    }

    [Fact]
    public void TheHttpsBlockServesTlsFromPemFiles()
    {
        DocsCodeTests.Block block = Assert.Single(DocsCodeTests.CSharpBlocks(), b => b.Code.Contains("StartTls(", StringComparison.Ordinal));
        Assert.Contains("7443", block.Code);
        int port = FreePort();
        string server = Project("https", DocsCodeTests.ProgramOf(block).Replace("7443", port.ToString()));
        string folder = Path.GetDirectoryName(server)!;
        File.Copy(TestCertificate.Shared.CertPath, Path.Combine(folder, "cert.pem"));
        File.Copy(TestCertificate.Shared.KeyPath, Path.Combine(folder, "key.pem"));
        using Process p = Start(server, folder);
        try
        {
            using TcpClient tcp = ConnectWhenUp(port);
            using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, _, _, _) => true);
            tls.AuthenticateAsClient("localhost");
            tls.Write("hello over tls\r\n"u8);
            tls.Flush();
            Assert.Equal("HELLO OVER TLS\r\n", ReadLine(tls));
            Assert.Equal($"TLS on 127.0.0.1:{port}", p.StandardOutput.ReadLine());
        }
        finally
        {
            p.Kill();
            p.WaitForExit();
        }
    }

    [Fact]
    public void TheSigtermBlockDrainsAndExits0()
    {
        DocsCodeTests.Block block = Assert.Single(DocsCodeTests.CSharpBlocks(), b => b.Code.Contains("PosixSignal.SIGTERM", StringComparison.Ordinal));
        int port = FreePort();
        string server = Project("sigterm", DocsCodeTests.ProgramOf(block).Replace("7000", port.ToString()));
        using Process p = Start(server);
        try
        {
            Assert.Equal($"listening on 127.0.0.1:{port}; SIGTERM or Ctrl+C stops", p.StandardOutput.ReadLine());
            using TcpClient tcp = ConnectWhenUp(port);
            NetworkStream stream = tcp.GetStream();
            stream.Write("still here\r\n"u8);
            Assert.Equal("STILL HERE\r\n", ReadLine(stream));

            Native.Kill(p.Id, Native.SIGTERM);
            Assert.Equal(string.Empty, ReadLine(stream)); // the idle connection is closed at once
            Assert.True(p.WaitForExit(20_000), "the program did not exit after SIGTERM");
            Assert.Equal(0, p.ExitCode);
            Assert.Equal("every connection finished", p.StandardOutput.ReadLine());
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill();
                p.WaitForExit();
            }
        }
    }

    [Fact]
    public void TheLoopGroupBlockServesOnEveryLoopAndStopsOnEnter()
    {
        DocsCodeTests.Block block = Assert.Single(DocsCodeTests.CSharpBlocks(), b => b.Code.Contains("Enter stops", StringComparison.Ordinal) && b.Code.Contains("new LoopGroup", StringComparison.Ordinal));
        int port = FreePort();
        string server = Project("loopgroup", DocsCodeTests.ProgramOf(block).Replace("7000", port.ToString()));
        using Process p = Start(server);
        try
        {
            Assert.Equal($"{Environment.ProcessorCount} loops on 127.0.0.1:{port}; Enter stops", p.StandardOutput.ReadLine());
            for (int i = 0; i < 8; i++)
            {
                Assert.Equal($"CLIENT {i}\r\n", Ask(port, $"client {i}\r\n"));
            }

            p.StandardInput.WriteLine();
            Assert.True(p.WaitForExit(20_000), "the program did not stop after Enter");
            Assert.Equal(0, p.ExitCode);
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill();
                p.WaitForExit();
            }
        }
    }

    [Fact]
    public void TheMetricsBlockCountsConnectionsBytesAndLines()
    {
        DocsCodeTests.Block block = Assert.Single(DocsCodeTests.CSharpBlocks(), b => b.Code.Contains("MeterListener", StringComparison.Ordinal));
        Assert.Contains("TimeSpan.FromSeconds(5)", block.Code);
        int port = FreePort();
        string server = Project("metrics", DocsCodeTests.ProgramOf(block).Replace("7000", port.ToString()).Replace("TimeSpan.FromSeconds(5)", "TimeSpan.FromSeconds(0.2)"));
        using Process p = Start(server);
        try
        {
            Assert.Equal("HELLO METRICS\r\n", Ask(port, "hello metrics\r\n"));
            string? line;
            var clock = Stopwatch.StartNew();
            do
            {
                line = p.StandardOutput.ReadLine();
            }
            while (line is not null && line != "1 connections, 15 bytes in, 1 lines" && clock.Elapsed < TimeSpan.FromSeconds(20));
            Assert.Equal("1 connections, 15 bytes in, 1 lines", line);
        }
        finally
        {
            p.Kill();
            p.WaitForExit();
        }
    }
}
