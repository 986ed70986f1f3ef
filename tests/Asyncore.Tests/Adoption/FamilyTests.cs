using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Asyncore.Samples.Line;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Adoption;

/// <summary>AsyncChat over IPv6 and Unix-domain sockets, as over IPv4, on every backend.</summary>
public class FamilyTests
{
    [Theory]
    [MemberData(nameof(Backends.FamiliesAndKinds), MemberType = typeof(Backends))]
    public void LineServerAndClientsOverEveryFamily(AddressFamily family, PollerKind kind)
    {
        using var map = new SocketMap();
        EndPoint address = Backends.AnyAddress(family);
        try
        {
            var server = new LineServer(address, map);
            var clients = Enumerable.Range(0, 20).Select(i => new LineClient(server.Address, [$"{family} {i}", "second"], map)).ToList();
            var sw = Stopwatch.StartNew();
            while (!clients.All(c => c.Closed) && sw.Elapsed < TimeSpan.FromSeconds(30))
            {
                EventLoop.Loop(kind, 0.05, map, count: 1);
            }

            for (int i = 0; i < clients.Count; i++)
            {
                Assert.Equal(new[] { $"echo: {family} {i}", "echo: second", "bye" }, clients[i].Answers);
            }

            EventLoop.CloseAll(map);
        }
        finally
        {
            Backends.Unlink(address);
        }
    }
}
