using System.Net;
using System.Net.Sockets;

namespace Asyncore.Proxy;

/// <summary>What a PROXY protocol header asks of the receiver (version 2's command; version 1 always proxies).</summary>
public enum ProxyCommand
{
    /// <summary>The connection was made by the proxy itself (a health check): use the real connection's addresses.</summary>
    Local = 0,

    /// <summary>The connection is relayed for a client: the header carries its addresses.</summary>
    Proxy = 1,
}

/// <summary>One type-length-value entry after a version 2 header's addresses (for example 0x01 ALPN, 0x02 AUTHORITY, 0x20 SSL).</summary>
public readonly struct ProxyTlv
{
    internal ProxyTlv(byte type, ReadOnlyMemory<byte> value)
    {
        Type = type;
        Value = value;
    }

    /// <summary>The type byte.</summary>
    public byte Type { get; }

    /// <summary>The value (a copy owned by the header).</summary>
    public ReadOnlyMemory<byte> Value { get; }
}

/// <summary>
/// A parsed PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2): who the client
/// was and whom it connected to, as the proxy in front saw it.
/// </summary>
public sealed class ProxyHeader
{
    internal ProxyHeader(int version, ProxyCommand command, AddressFamily family, SocketType transport, EndPoint? source, EndPoint? destination, IReadOnlyList<ProxyTlv> tlvs, int length)
    {
        Version = version;
        Command = command;
        Family = family;
        Transport = transport;
        Source = source;
        Destination = destination;
        Tlvs = tlvs;
        Length = length;
    }

    /// <summary>1 for the text header, 2 for the binary one.</summary>
    public int Version { get; }

    /// <summary><see cref="ProxyCommand.Local"/> for a version 2 LOCAL header; <see cref="ProxyCommand.Proxy"/> otherwise.</summary>
    public ProxyCommand Command { get; }

    /// <summary>
    /// The carried address family: <see cref="AddressFamily.InterNetwork"/>, <see cref="AddressFamily.InterNetworkV6"/>,
    /// <see cref="AddressFamily.Unix"/>, or <see cref="AddressFamily.Unspecified"/> (v1 UNKNOWN, v2 AF_UNSPEC or LOCAL).
    /// </summary>
    public AddressFamily Family { get; }

    /// <summary><see cref="SocketType.Stream"/>, <see cref="SocketType.Dgram"/>, or <see cref="SocketType.Unknown"/> when the header does not say.</summary>
    public SocketType Transport { get; }

    /// <summary>The client's address (an <see cref="IPEndPoint"/> or a <see cref="UnixDomainSocketEndPoint"/>); null when the header carries none.</summary>
    public EndPoint? Source { get; }

    /// <summary>The address the client connected to; null when the header carries none.</summary>
    public EndPoint? Destination { get; }

    /// <summary>The version 2 TLVs in the order sent (empty for version 1, LOCAL and AF_UNSPEC, whose blocks are skipped).</summary>
    public IReadOnlyList<ProxyTlv> Tlvs { get; }

    /// <summary>How many bytes the header took on the wire.</summary>
    public int Length { get; }

    /// <summary>Whether the header carries addresses to use in place of the connection's own.</summary>
    public bool HasAddresses => Command == ProxyCommand.Proxy && Source is not null;
}
