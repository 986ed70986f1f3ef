using Asyncore.Tests.Support;

namespace Asyncore.Tests.Adoption;

/// <summary>
/// As a new user would: pack the library, restore the .nupkg into a throwaway project from a local
/// folder source, build a small program against it and run it.
/// </summary>
public sealed class PackageTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("asyncore-pkg-").FullName;
    private readonly string _version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

    public void Dispose()
    {
        Directory.Delete(_work, recursive: true);
        string cached = Path.Combine(
            Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"),
            "asyncore",
            _version);
        if (Directory.Exists(cached))
        {
            Directory.Delete(cached, recursive: true);
        }
    }

    [Fact]
    public void PackedPackageRestoresBuildsAndRunsInANewProject()
    {
        string feed = Path.Combine(_work, "feed");
        DotnetCli.Run(DotnetCli.RepoRoot(), "pack", "src/Asyncore", "-c", "Release", "-o", feed, $"-p:Version={_version}");
        Assert.True(File.Exists(Path.Combine(feed, $"Asyncore.{_version}.nupkg")));
        Assert.True(File.Exists(Path.Combine(feed, $"Asyncore.{_version}.snupkg")));

        string app = Path.Combine(_work, "app");
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        DotnetCli.WriteConsoleProject(app, "app", $"""<PackageReference Include="Asyncore" Version="{_version}" />""");
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using System.Net;
            using System.Net.Sockets;
            using System.Text;
            using Asyncore;

            var map = new SocketMap();
            var server = new Server(map);
            var client = new Client(server.Socket!.LocalEndPoint!, map);
            EventLoop.Loop(PollerKind.Default, timeout: 1, map: map, count: 200);
            Console.WriteLine($"answer: {client.Answer}");
            return client.Answer == "HELLO FROM A NEW PROJECT" ? 0 : 1;

            sealed class Server : Dispatcher
            {
                public Server(SocketMap map) : base(null, map) { CreateSocket(); Bind(new IPEndPoint(IPAddress.Loopback, 0)); Listen(8); }
                protected override void HandleAccepted(Socket socket, EndPoint peer) => new Upper(socket, Map);
            }

            sealed class Upper : AsyncChat
            {
                private readonly StringBuilder _line = new();
                public Upper(Socket socket, SocketMap map) : base(socket, map) => SetTerminator("\n");
                protected override void CollectIncomingData(ReadOnlySpan<byte> data) => _line.Append(Encoding.ASCII.GetString(data));
                protected override void FoundTerminator() { Push(Encoding.ASCII.GetBytes(_line.ToString().ToUpperInvariant() + "\n")); CloseWhenDone(); }
            }

            sealed class Client : AsyncChat
            {
                private readonly StringBuilder _line = new();
                public Client(EndPoint server, SocketMap map) : base(null, map) { CreateSocket(); Connect(server); SetTerminator("\n"); Push("hello from a new project\n"u8); }
                public string? Answer { get; private set; }
                protected override void HandleConnect() { }
                protected override void CollectIncomingData(ReadOnlySpan<byte> data) => _line.Append(Encoding.ASCII.GetString(data));
                protected override void FoundTerminator() { Answer = _line.ToString(); EventLoop.CloseAll(Map); }
            }
            """);

        string output = DotnetCli.Run(app, "run", "-c", "Release");
        Assert.Contains("answer: HELLO FROM A NEW PROJECT", output);
    }
}
