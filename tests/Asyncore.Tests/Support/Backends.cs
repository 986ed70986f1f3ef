using System.Net;
using System.Net.Sockets;

namespace Asyncore.Tests.Support;

/// <summary>The backends and address families every contract runs against (CPython's TestAPI_Use*Select / *Poll classes).</summary>
public static class Backends
{
    public static readonly PollerKind[] All = [PollerKind.Select, PollerKind.Poll, PollerKind.Epoll, PollerKind.IoUring];

    public static TheoryData<PollerKind> Kinds()
    {
        var data = new TheoryData<PollerKind>();
        foreach (PollerKind k in All)
        {
            data.Add(k);
        }

        return data;
    }

    public static TheoryData<AddressFamily, PollerKind> FamiliesAndKinds()
    {
        var data = new TheoryData<AddressFamily, PollerKind>();
        foreach (AddressFamily f in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6, AddressFamily.Unix })
        {
            foreach (PollerKind k in All)
            {
                data.Add(f, k);
            }
        }

        return data;
    }

    public static TheoryData<AddressFamily, PollerKind> InetFamiliesAndKinds()
    {
        var data = new TheoryData<AddressFamily, PollerKind>();
        foreach (AddressFamily f in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 })
        {
            foreach (PollerKind k in All)
            {
                data.Add(f, k);
            }
        }

        return data;
    }

    /// <summary>A bindable address for the family: loopback port 0, or a fresh socket path.</summary>
    public static EndPoint AnyAddress(AddressFamily family) => family switch
    {
        AddressFamily.InterNetwork => new IPEndPoint(IPAddress.Loopback, 0),
        AddressFamily.InterNetworkV6 => new IPEndPoint(IPAddress.IPv6Loopback, 0),
        AddressFamily.Unix => new UnixDomainSocketEndPoint(Path.Combine(Path.GetTempPath(), $"asyncore-{Guid.NewGuid():N}.sock")),
        _ => throw new ArgumentOutOfRangeException(nameof(family)),
    };

    /// <summary>Removes a Unix socket file, if the address is one.</summary>
    public static void Unlink(EndPoint? address)
    {
        if (address is UnixDomainSocketEndPoint && address.ToString() is { Length: > 0 } path && File.Exists(path))
        {
            File.Delete(path);
        }
    }
}
