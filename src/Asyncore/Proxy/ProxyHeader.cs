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

    /// <summary>The value: a slice of the one copy of the TLV block the header keeps.</summary>
    public ReadOnlyMemory<byte> Value { get; }
}

/// <summary>
/// A version 2 header's TLVs, read on demand from the one copy of the block the header keeps (as
/// HAProxy keeps the block as received): no entry is copied apart, so a header of thousands of tiny
/// TLVs costs its bytes once. Indexing walks the block.
/// </summary>
public sealed class ProxyTlvList : IReadOnlyList<ProxyTlv>
{
    internal static readonly ProxyTlvList Empty = new(ReadOnlyMemory<byte>.Empty, 0);

    private readonly ReadOnlyMemory<byte> _block;

    internal ProxyTlvList(ReadOnlyMemory<byte> block, int count)
    {
        _block = block;
        Count = count;
    }

    /// <summary>How many TLVs the block holds.</summary>
    public int Count { get; }

    /// <summary>The TLV block as received (type, big-endian length, value; repeated).</summary>
    public ReadOnlyMemory<byte> Block => _block;

    /// <summary>The <paramref name="index"/>-th TLV, in the order sent.</summary>
    /// <param name="index">From 0 to <see cref="Count"/> - 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">No such entry.</exception>
    public ProxyTlv this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            Enumerator e = GetEnumerator();
            for (int i = 0; i <= index; i++)
            {
                e.MoveNext();
            }

            return e.Current;
        }
    }

    /// <summary>Walks the block without allocating.</summary>
    /// <returns>The enumerator.</returns>
    public Enumerator GetEnumerator() => new(_block);

    IEnumerator<ProxyTlv> IEnumerable<ProxyTlv>.GetEnumerator()
    {
        foreach (ProxyTlv tlv in this)
        {
            yield return tlv;
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => ((IEnumerable<ProxyTlv>)this).GetEnumerator();

    /// <summary>Reads one TLV after another from the block.</summary>
    public struct Enumerator
    {
        private readonly ReadOnlyMemory<byte> _block;
        private int _next;

        internal Enumerator(ReadOnlyMemory<byte> block)
        {
            _block = block;
            _next = 0;
            Current = default;
        }

        /// <summary>The entry read last.</summary>
        public ProxyTlv Current { get; private set; }

        /// <summary>Reads the next entry.</summary>
        /// <returns>False at the end of the block.</returns>
        public bool MoveNext()
        {
            if (_next + 3 > _block.Length)
            {
                return false;
            }

            ReadOnlySpan<byte> head = _block.Span.Slice(_next, 3);
            int length = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(head[1..]);
            Current = new ProxyTlv(head[0], _block.Slice(_next + 3, length));
            _next += 3 + length;
            return true;
        }
    }
}

/// <summary>
/// A parsed PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2): who the client
/// was and whom it connected to, as the proxy in front saw it.
/// </summary>
public sealed class ProxyHeader
{
    internal ProxyHeader(int version, ProxyCommand command, AddressFamily family, SocketType transport, EndPoint? source, EndPoint? destination, ProxyTlvList tlvs, int length)
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

    /// <summary>The version 2 TLVs in the order sent (empty for version 1, LOCAL and AF_UNSPEC, whose blocks are skipped), read on demand from one copy of the block.</summary>
    public ProxyTlvList Tlvs { get; }

    /// <summary>How many bytes the header took on the wire.</summary>
    public int Length { get; }

    /// <summary>Whether the header carries addresses to use in place of the connection's own.</summary>
    public bool HasAddresses => Command == ProxyCommand.Proxy && Source is not null;
}
