using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Support;

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

    private static Process Start(string executable)
    {
        var p = Process.Start(new ProcessStartInfo(executable)
        {
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

        // The snippet uses the example's classes: they follow its top-level statements in one file
        // (with the one using directive they need that the snippet does not have).
        string classes = example[example.IndexOf("sealed class LineServer", StringComparison.Ordinal)..];
        string app = Project(
            "snippet",
            "using System.Net.Sockets;\n" + snippet.Replace("7000", port.ToString()) + "\n" + classes,
            """<PackageReference Include="Microsoft.Extensions.Logging.Console" Version="10.0.0" />""");
        using (var p = Start(app))
        {
            Assert.Equal("HI\r\n", Ask(port, "hi\r\n"));
            p.StandardInput.WriteLine(); // "Enter stops the loop"
            Assert.True(p.WaitForExit(20_000), "the snippet did not stop after Enter");
            Assert.Equal(0, p.ExitCode);
        }
    }
}
