using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Asyncore.Proxy;

/// <summary>
/// An incremental parser of the PROXY protocol header, versions 1 and 2, byte-exact to HAProxy's
/// proxy-protocol.txt. Feed it the connection's first bytes in chunks of any size; it takes only
/// the header's bytes (never one after it) and rejects a wrong byte as soon as it arrives.
/// </summary>
/// <remarks>
/// Version 1: <c>PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n</c>, at most 107 bytes, single
/// spaces, IPv4 as four decimal numbers 0..255 without leading zeros, IPv6 in colon-hex notation,
/// ports 0..65535 without leading zeros; after UNKNOWN anything up to the CRLF is ignored.
/// Version 2: the 12-byte signature, version 2, command LOCAL or PROXY, one of AF_UNSPEC, AF_INET,
/// AF_INET6, AF_UNIX over UNSPEC, STREAM or DGRAM (the combinations the specification lists), a
/// big-endian length, the addresses, then TLVs (kept in <see cref="ProxyHeader.Tlvs"/>). A LOCAL
/// header's block, and an AF_UNSPEC one's, is skipped whole, as the specification says.
/// </remarks>
public sealed class ProxyHeaderParser
{
    /// <summary>The most bytes a version 1 header may take, CRLF included.</summary>
    public const int MaxV1Length = 107;

    private const int V2FixedLength = 16;

    private static ReadOnlySpan<byte> V2Signature => "\r\n\r\n\0\r\nQUIT\n"u8;

    private static ReadOnlySpan<byte> V1Prefix => "PROXY "u8;

    /// <summary>
    /// The most bytes of TLVs a version 2 header may carry by default: 4 KiB, room for everything
    /// HAProxy sends (ALPN, authority, unique id, SSL details) with a wide margin; a longer header is
    /// rejected as soon as its length is read, before its bytes are kept.
    /// </summary>
    public const int DefaultMaxTlvBytes = 4096;

    private readonly int _maxTlvBytes;
    private byte[] _buffer = new byte[V2FixedLength];
    private int _length;
    private int _need; // v2: the header's whole length once the fixed part is in; 0 before
    private int _version;

    /// <summary>A parser for one connection's header.</summary>
    /// <param name="maxTlvBytes">The most bytes of version 2 TLVs accepted (<see cref="DefaultMaxTlvBytes"/> by default; at most 65,319, what the 16-bit length leaves after the largest address block).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxTlvBytes"/> is negative or over 65,319.</exception>
    public ProxyHeaderParser(int maxTlvBytes = DefaultMaxTlvBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxTlvBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxTlvBytes, ushort.MaxValue - 216);
        _maxTlvBytes = maxTlvBytes;
    }

    /// <summary>The header, once <see cref="Feed"/> said <see cref="ProxyParseStatus.Complete"/>.</summary>
    public ProxyHeader? Header { get; private set; }

    /// <summary>Why the bytes were rejected, once <see cref="Feed"/> said <see cref="ProxyParseStatus.Invalid"/>.</summary>
    public string? Error { get; private set; }

    /// <summary>Where the parser is: <see cref="ProxyParseStatus.NeedMore"/> until the header completes or is rejected.</summary>
    public ProxyParseStatus Status { get; private set; }

    /// <summary>Takes the next bytes of the connection.</summary>
    /// <param name="data">Bytes received after those already fed.</param>
    /// <param name="consumed">How many of them belong to the header; the rest are the protocol's.</param>
    /// <returns>The status after these bytes (once complete or invalid, it stays so and takes nothing more).</returns>
    public ProxyParseStatus Feed(ReadOnlySpan<byte> data, out int consumed)
    {
        consumed = 0;
        while (Status == ProxyParseStatus.NeedMore && consumed < data.Length)
        {
            if (_version == 0)
            {
                byte first = data[consumed];
                _version = first == V2Signature[0] ? 2 : first == V1Prefix[0] ? 1 : -1;
                if (_version < 0)
                {
                    consumed++; // the wrong byte
                    return Fail("not a PROXY protocol header");
                }
            }

            consumed += _version == 1 ? TakeV1(data[consumed..]) : TakeV2(data[consumed..]);
        }

        return Status;
    }

    private ProxyParseStatus Fail(string error)
    {
        Error = error;
        Status = ProxyParseStatus.Invalid;
        return Status;
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        if (_length + bytes.Length > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_length + bytes.Length, _buffer.Length * 2));
        }

        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    private int TakeV1(ReadOnlySpan<byte> data)
    {
        int taken = 0;
        while (taken < data.Length)
        {
            byte b = data[taken++];
            if (_length < V1Prefix.Length && b != V1Prefix[_length])
            {
                Fail("not a PROXY protocol header");
                return taken;
            }

            if (_length > 0 && _buffer[_length - 1] == '\r' && b != '\n')
            {
                Fail("CR not followed by LF in a version 1 header");
                return taken;
            }

            if (b == '\n' && (_length == 0 || _buffer[_length - 1] != '\r'))
            {
                Fail("LF without CR in a version 1 header");
                return taken;
            }

            Append([b]);
            if (b == '\n')
            {
                ParseV1();
                return taken;
            }

            if (_length >= MaxV1Length)
            {
                Fail("version 1 header longer than 107 bytes");
                return taken;
            }
        }

        return taken;
    }

    private void ParseV1()
    {
        // The line without "PROXY " and "\r\n".
        ReadOnlySpan<byte> line = _buffer.AsSpan(V1Prefix.Length, _length - V1Prefix.Length - 2);
        if (line.StartsWith("UNKNOWN"u8) && (line.Length == 7 || line[7] == ' '))
        {
            Complete(new ProxyHeader(1, ProxyCommand.Proxy, AddressFamily.Unspecified, SocketType.Unknown, null, null, ProxyTlvList.Empty, _length));
            return;
        }

        Span<Range> fields = stackalloc Range[6];
        if (SplitOn(line, fields, (byte)' ') != 5)
        {
            Fail("a version 1 header needs a protocol, two addresses and two ports, each after one space");
            return;
        }

        ReadOnlySpan<byte> protocol = line[fields[0]];
        AddressFamily family = protocol.SequenceEqual("TCP4"u8) ? AddressFamily.InterNetwork
            : protocol.SequenceEqual("TCP6"u8) ? AddressFamily.InterNetworkV6
            : AddressFamily.Unknown;
        if (family == AddressFamily.Unknown)
        {
            Fail("unknown version 1 protocol");
            return;
        }

        if (!TryParseV1Address(line[fields[1]], family, out IPAddress? src)
            || !TryParseV1Address(line[fields[2]], family, out IPAddress? dst))
        {
            Fail("malformed address in a version 1 header");
            return;
        }

        if (!TryParsePort(line[fields[3]], out int sport) || !TryParsePort(line[fields[4]], out int dport))
        {
            Fail("malformed port in a version 1 header");
            return;
        }

        Complete(new ProxyHeader(1, ProxyCommand.Proxy, family, SocketType.Stream, new IPEndPoint(src, sport), new IPEndPoint(dst, dport), ProxyTlvList.Empty, _length));
    }

    /// <summary>Four decimal numbers 0..255 with no leading zeros, or colon-hex IPv6 (at most one "::").</summary>
    internal static bool TryParseV1Address(ReadOnlySpan<byte> text, AddressFamily family, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (family == AddressFamily.InterNetwork)
        {
            Span<byte> octets = stackalloc byte[4];
            Span<Range> parts = stackalloc Range[5];
            if (SplitOn(text, parts, (byte)'.') != 4)
            {
                return false;
            }

            for (int i = 0; i < 4; i++)
            {
                if (!TryParseDecimal(text[parts[i]], 255, out int octet))
                {
                    return false;
                }

                octets[i] = (byte)octet;
            }

            address = new IPAddress(octets);
            return true;
        }

        if (text.Length is < 2 or > 39)
        {
            return false;
        }

        foreach (byte b in text)
        {
            if (!(char.IsAsciiHexDigit((char)b) || b == ':'))
            {
                return false; // no zone, no dotted IPv4 tail: the specification's colon-hex form only
            }
        }

        return IPAddress.TryParse(Encoding.ASCII.GetString(text), out address) && address.AddressFamily == AddressFamily.InterNetworkV6;
    }

    /// <summary>Splits at every <paramref name="separator"/>; returns the number of fields, or ranges.Length + 1 when there are more.</summary>
    private static int SplitOn(ReadOnlySpan<byte> text, Span<Range> ranges, byte separator)
    {
        int count = 0;
        int start = 0;
        while (true)
        {
            int at = text[start..].IndexOf(separator);
            int end = at < 0 ? text.Length : start + at;
            if (count == ranges.Length)
            {
                return count + 1;
            }

            ranges[count++] = new Range(start, end);
            if (at < 0)
            {
                return count;
            }

            start = end + 1;
        }
    }

    private static bool TryParsePort(ReadOnlySpan<byte> text, out int port) => TryParseDecimal(text, 65535, out port);

    private static bool TryParseDecimal(ReadOnlySpan<byte> text, int max, out int value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 5 || (text.Length > 1 && text[0] == '0'))
        {
            return false;
        }

        foreach (byte b in text)
        {
            if (!char.IsAsciiDigit((char)b))
            {
                return false;
            }

            value = (value * 10) + (b - '0');
        }

        return value <= max;
    }

    private int TakeV2(ReadOnlySpan<byte> data)
    {
        int taken = 0;
        while (_length < V2FixedLength && taken < data.Length)
        {
            byte b = data[taken++];
            if (_length < V2Signature.Length && b != V2Signature[_length])
            {
                Fail("not a PROXY protocol header");
                return taken;
            }

            if (_length == 12 && (b >> 4) != 2)
            {
                Fail("unsupported PROXY protocol version");
                return taken;
            }

            if (_length == 12 && (b & 0xF) > 1)
            {
                Fail("unknown version 2 command");
                return taken;
            }

            Append([b]);
            if (_length == V2FixedLength)
            {
                int blockLength = BinaryPrimitives.ReadUInt16BigEndian(_buffer.AsSpan(14, 2));
                int addresses = AddressLength(_buffer[13]);
                if (blockLength > addresses + _maxTlvBytes && (_buffer[12] & 0xF) == (int)ProxyCommand.Proxy && _buffer[13] != 0)
                {
                    Fail($"version 2 header carries {blockLength - addresses} bytes of TLVs, over the {_maxTlvBytes}-byte limit");
                    return taken;
                }

                _need = V2FixedLength + blockLength;
            }
        }

        if (_length < V2FixedLength)
        {
            return taken;
        }

        int more = Math.Min(_need - _length, data.Length - taken);
        Append(data.Slice(taken, more));
        taken += more;
        if (_length == _need)
        {
            ParseV2();
        }

        return taken;
    }

    private void ParseV2()
    {
        var command = (ProxyCommand)(_buffer[12] & 0xF);
        if (command == ProxyCommand.Local)
        {
            // The receiver uses the real connection's addresses and discards the block, family included.
            Complete(new ProxyHeader(2, ProxyCommand.Local, AddressFamily.Unspecified, SocketType.Unknown, null, null, ProxyTlvList.Empty, _length));
            return;
        }

        byte familyAndTransport = _buffer[13];
        SocketType transport = (familyAndTransport & 0xF) switch
        {
            1 => SocketType.Stream,
            2 => SocketType.Dgram,
            _ => SocketType.Unknown,
        };
        int addressLength;
        AddressFamily family;
        switch (familyAndTransport)
        {
            case 0x00:
                // AF_UNSPEC: the receiver ignores the block.
                Complete(new ProxyHeader(2, ProxyCommand.Proxy, AddressFamily.Unspecified, SocketType.Unknown, null, null, ProxyTlvList.Empty, _length));
                return;
            case 0x11 or 0x12:
                family = AddressFamily.InterNetwork;
                addressLength = 12;
                break;
            case 0x21 or 0x22:
                family = AddressFamily.InterNetworkV6;
                addressLength = 36;
                break;
            case 0x31 or 0x32:
                family = AddressFamily.Unix;
                addressLength = 216;
                break;
            default:
                Fail("unknown version 2 address family or transport");
                return;
        }

        ReadOnlySpan<byte> block = _buffer.AsSpan(V2FixedLength, _need - V2FixedLength);
        if (block.Length < addressLength)
        {
            Fail("version 2 address block shorter than its family needs");
            return;
        }

        EndPoint source, destination;
        if (family == AddressFamily.Unix)
        {
            source = UnixAddress(block[..108]);
            destination = UnixAddress(block.Slice(108, 108));
        }
        else
        {
            int size = family == AddressFamily.InterNetwork ? 4 : 16;
            var src = new IPAddress(block[..size]);
            var dst = new IPAddress(block.Slice(size, size));
            source = new IPEndPoint(src, BinaryPrimitives.ReadUInt16BigEndian(block.Slice(2 * size, 2)));
            destination = new IPEndPoint(dst, BinaryPrimitives.ReadUInt16BigEndian(block.Slice((2 * size) + 2, 2)));
        }

        // The TLVs are checked once and kept as one copy of the block, read on demand.
        ReadOnlySpan<byte> rest = block[addressLength..];
        int count = 0;
        for (ReadOnlySpan<byte> walk = rest; !walk.IsEmpty; count++)
        {
            if (walk.Length < 3 || walk.Length < 3 + BinaryPrimitives.ReadUInt16BigEndian(walk.Slice(1, 2)))
            {
                Fail("truncated TLV in a version 2 header");
                return;
            }

            walk = walk[(3 + BinaryPrimitives.ReadUInt16BigEndian(walk.Slice(1, 2)))..];
        }

        ProxyTlvList tlvs = count == 0 ? ProxyTlvList.Empty : new ProxyTlvList(rest.ToArray(), count);
        Complete(new ProxyHeader(2, ProxyCommand.Proxy, family, transport, source, destination, tlvs, _length));
    }

    /// <summary>The address block's length for a version 2 family and transport byte (0 for AF_UNSPEC and unknown ones).</summary>
    private static int AddressLength(byte familyAndTransport) => (familyAndTransport >> 4) switch
    {
        1 => 12,
        2 => 36,
        3 => 216,
        _ => 0,
    };

    /// <summary>A NUL-terminated sun_path; an empty one is an unbound peer's (as <see cref="Dispatcher.Addr"/> reports it).</summary>
    private static EndPoint UnixAddress(ReadOnlySpan<byte> raw)
    {
        int end = raw.IndexOf((byte)0);
        ReadOnlySpan<byte> path = end < 0 ? raw : raw[..end];
        return path.IsEmpty ? Dispatcher.UnnamedUnixEndPoint.Instance : new UnixDomainSocketEndPoint(Encoding.UTF8.GetString(path));
    }

    private void Complete(ProxyHeader header)
    {
        Header = header;
        Status = ProxyParseStatus.Complete;
        _buffer = [];
        _length = 0;
    }
}
