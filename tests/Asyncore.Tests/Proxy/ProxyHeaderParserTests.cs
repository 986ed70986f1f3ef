using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Proxy;

namespace Asyncore.Tests.Proxy;

/// <summary>The PROXY protocol parser against HAProxy's proxy-protocol.txt, fed whole, at every split point and byte by byte.</summary>
public class ProxyHeaderParserTests
{
    private static readonly byte[] Tail = "GET / HTTP/1.1\r\n\r\n"u8.ToArray();

    /// <summary>Feeds <paramref name="chunks"/> in turn; returns the final status, the parser and how many bytes it took in all.</summary>
    private static (ProxyParseStatus Status, ProxyHeaderParser Parser, int Taken) Run(params byte[][] chunks)
    {
        var parser = new ProxyHeaderParser();
        int taken = 0;
        ProxyParseStatus status = ProxyParseStatus.NeedMore;
        foreach (byte[] chunk in chunks)
        {
            status = parser.Feed(chunk, out int consumed);
            Assert.InRange(consumed, 0, chunk.Length);
            taken += consumed;
            if (status != ProxyParseStatus.NeedMore)
            {
                Assert.Equal(status, parser.Feed(chunk.AsSpan(consumed), out int more)); // finished: takes nothing more
                Assert.Equal(0, more);
                break;
            }
        }

        return (status, parser, taken);
    }

    /// <summary>Every way to cut the bytes in two, and one byte at a time: the same outcome, and the header's bytes exactly are taken.</summary>
    private static ProxyHeaderParser AssertSameEverySplit(byte[] bytes, ProxyParseStatus expected, int expectedTaken)
    {
        (ProxyParseStatus whole, ProxyHeaderParser parser, int taken) = Run(bytes);
        Assert.Equal(expected, whole);
        Assert.Equal(expectedTaken, taken);
        for (int cut = 0; cut <= bytes.Length; cut++)
        {
            (ProxyParseStatus s, ProxyHeaderParser p, int t) = Run(bytes[..cut], bytes[cut..]);
            Assert.Equal(expected, s);
            Assert.Equal(expectedTaken, t);
            Assert.Equal(parser.Error, p.Error);
        }

        (ProxyParseStatus single, _, int singleTaken) = Run(bytes.Select(b => new[] { b }).ToArray());
        Assert.Equal(expected, single);
        Assert.Equal(expectedTaken, singleTaken);
        return parser;
    }

    private static ProxyHeader Valid(byte[] header)
    {
        byte[] bytes = [.. header, .. Tail];
        ProxyHeaderParser parser = AssertSameEverySplit(bytes, ProxyParseStatus.Complete, header.Length);
        Assert.Equal(header.Length, parser.Header!.Length);
        return parser.Header;
    }

    [Fact]
    public void V1Tcp4CarriesBothAddressesAndLeavesTheRest()
    {
        ProxyHeader h = Valid("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"u8.ToArray());
        Assert.Equal(1, h.Version);
        Assert.Equal(ProxyCommand.Proxy, h.Command);
        Assert.Equal(AddressFamily.InterNetwork, h.Family);
        Assert.Equal(SocketType.Stream, h.Transport);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.168.0.1"), 56324), h.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.168.0.11"), 443), h.Destination);
        Assert.True(h.HasAddresses);
        Assert.Empty(h.Tlvs);
    }

    [Fact]
    public void V1Tcp6AtTheLongestLineTheSpecificationGives()
    {
        byte[] line = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"u8.ToArray();
        Assert.Equal(104, line.Length);
        ProxyHeader h = Valid(line);
        Assert.Equal(AddressFamily.InterNetworkV6, h.Family);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 65535), h.Source);
        ProxyHeader compressed = Valid("PROXY TCP6 2001:DB8::1 ::1 0 80\r\n"u8.ToArray());
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 0), compressed.Source);
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 80), compressed.Destination);
    }

    [Theory]
    [InlineData("PROXY UNKNOWN\r\n")]
    [InlineData("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n")]
    [InlineData("PROXY UNKNOWN anything at all, up to the line end\r\n")]
    public void V1UnknownIsAcceptedWithoutAddresses(string line)
    {
        ProxyHeader h = Valid(Encoding.ASCII.GetBytes(line));
        Assert.Equal(AddressFamily.Unspecified, h.Family);
        Assert.Null(h.Source);
        Assert.False(h.HasAddresses);
    }

    [Fact]
    public void V1MayTake107BytesAndNoMore()
    {
        string head = "PROXY UNKNOWN ";
        byte[] longest = Encoding.ASCII.GetBytes(head + new string('x', 107 - head.Length - 2) + "\r\n");
        Assert.Equal(107, longest.Length);
        Valid(longest);

        byte[] tooLong = Encoding.ASCII.GetBytes(head + new string('x', 200) + "\r\n");
        ProxyHeaderParser p = AssertSameEverySplit(tooLong, ProxyParseStatus.Invalid, 107); // cut at byte 107, not at the line end
        Assert.Contains("107", p.Error);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\n\r\n", 1)] // not PROXY: rejected at the first byte
    [InlineData("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 1)]
    [InlineData("PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", 6)]
    [InlineData("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", 0)]
    [InlineData("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", 0)]
    [InlineData("PROXY TCP4 192.168.0.01 5.6.7.8 1 2\r\n", 0)] // leading zero
    [InlineData("PROXY TCP4 256.1.1.1 5.6.7.8 1 2\r\n", 0)]
    [InlineData("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", 0)]
    [InlineData("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", 0)]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", 0)]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", 0)]
    [InlineData("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", 0)] // two spaces
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", 0)]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", 0)]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", 0)]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", 0)]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", 0)]
    [InlineData("PROXY TCP4 ::1 ::1 1 2\r\n", 0)] // family and address disagree
    [InlineData("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", 0)]
    [InlineData("PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n", 0)]
    [InlineData("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", 0)]
    [InlineData("PROXY TCP6 1::2::3 ::1 1 2\r\n", 0)]
    [InlineData("PROXY UNKNOWNX\r\n", 0)]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 0)] // LF without CR
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", 0)] // CR without LF
    public void MalformedV1IsRejected(string text, int rejectedAfter)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(text);
        int taken = rejectedAfter > 0 ? rejectedAfter : bytes.Length;
        if (text.EndsWith("\rX", StringComparison.Ordinal))
        {
            taken = bytes.Length; // the X after the CR is the wrong byte
        }

        ProxyHeaderParser p = AssertSameEverySplit(bytes, ProxyParseStatus.Invalid, taken);
        Assert.NotNull(p.Error);
        Assert.Null(p.Header);
    }

    private static readonly byte[] Signature = "\r\n\r\n\0\r\nQUIT\n"u8.ToArray();

    private static byte[] V2(byte verCmd, byte famProto, byte[] block, int? declaredLength = null)
    {
        var bytes = new byte[16 + block.Length];
        Signature.CopyTo(bytes, 0);
        bytes[12] = verCmd;
        bytes[13] = famProto;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(14), (ushort)(declaredLength ?? block.Length));
        block.CopyTo(bytes, 16);
        return bytes;
    }

    private static byte[] Tlv(byte type, byte[] value) => [type, (byte)(value.Length >> 8), (byte)value.Length, .. value];

    [Fact]
    public void V2Tcp4WithTlvsExposesThemInOrder()
    {
        byte[] addresses = [127, 0, 0, 2, 10, 0, 0, 1, 0xDB, 0xC4, 0x01, 0xBB]; // 127.0.0.2:56260 → 10.0.0.1:443
        byte[] block = [.. addresses, .. Tlv(0x01, "h2"u8.ToArray()), .. Tlv(0x02, "example.com"u8.ToArray()), .. Tlv(0x04, [])];
        ProxyHeader h = Valid(V2(0x21, 0x11, block));
        Assert.Equal(2, h.Version);
        Assert.Equal(ProxyCommand.Proxy, h.Command);
        Assert.Equal(AddressFamily.InterNetwork, h.Family);
        Assert.Equal(SocketType.Stream, h.Transport);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 56260), h.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.1"), 443), h.Destination);
        Assert.Equal(new byte[] { 0x01, 0x02, 0x04 }, h.Tlvs.Select(t => t.Type));
        Assert.Equal("h2", Encoding.ASCII.GetString(h.Tlvs[0].Value.Span));
        Assert.Equal("example.com", Encoding.ASCII.GetString(h.Tlvs[1].Value.Span));
        Assert.True(h.Tlvs[2].Value.IsEmpty);
    }

    [Fact]
    public void V2Tcp6AndUdp4()
    {
        byte[] src = IPAddress.Parse("2001:db8::7").GetAddressBytes();
        byte[] dst = IPAddress.IPv6Loopback.GetAddressBytes();
        ProxyHeader h6 = Valid(V2(0x21, 0x21, [.. src, .. dst, 0x30, 0x39, 0x00, 0x50]));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::7"), 12345), h6.Source);
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 80), h6.Destination);
        Assert.Equal(AddressFamily.InterNetworkV6, h6.Family);

        ProxyHeader udp = Valid(V2(0x21, 0x12, [1, 2, 3, 4, 5, 6, 7, 8, 0, 53, 0, 54]));
        Assert.Equal(SocketType.Dgram, udp.Transport);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("1.2.3.4"), 53), udp.Source);
    }

    [Fact]
    public void V2UnixCarriesPaths()
    {
        var block = new byte[216];
        "/run/client.sock"u8.CopyTo(block);
        "/run/server.sock"u8.CopyTo(block.AsSpan(108));
        ProxyHeader h = Valid(V2(0x21, 0x31, block));
        Assert.Equal(AddressFamily.Unix, h.Family);
        Assert.Equal("/run/client.sock", h.Source!.ToString());
        Assert.Equal("/run/server.sock", h.Destination!.ToString());

        ProxyHeader unbound = Valid(V2(0x21, 0x32, new byte[216]));
        Assert.Equal(SocketType.Dgram, unbound.Transport);
        Assert.Equal(AddressFamily.Unix, unbound.Source!.AddressFamily);
    }

    [Fact]
    public void V2LocalAndUnspecSkipTheirBlockWhole()
    {
        ProxyHeader local = Valid(V2(0x20, 0x11, [1, 2, 3])); // a block too short for AF_INET: LOCAL ignores it
        Assert.Equal(ProxyCommand.Local, local.Command);
        Assert.False(local.HasAddresses);
        Assert.Null(local.Source);

        ProxyHeader localEmpty = Valid(V2(0x20, 0x00, []));
        Assert.Equal(16, localEmpty.Length);

        ProxyHeader unspec = Valid(V2(0x21, 0x00, [9, 9, 9, 9]));
        Assert.Equal(AddressFamily.Unspecified, unspec.Family);
        Assert.False(unspec.HasAddresses);
    }

    [Theory]
    [InlineData(0x11, 0x11, 12, 13)] // version 1 in the binary form: rejected at byte 13
    [InlineData(0x31, 0x11, 12, 13)] // version 3
    [InlineData(0x22, 0x11, 12, 13)] // command 2
    [InlineData(0x21, 0x41, 12, -1)] // family 4
    [InlineData(0x21, 0x13, 12, -1)] // transport 3
    [InlineData(0x21, 0x10, 12, -1)] // AF_INET over UNSPEC
    [InlineData(0x21, 0x11, 8, -1)] // block shorter than AF_INET's addresses
    [InlineData(0x21, 0x21, 12, -1)] // shorter than AF_INET6's
    [InlineData(0x21, 0x31, 108, -1)] // shorter than AF_UNIX's
    public void MalformedV2IsRejected(byte verCmd, byte famProto, int blockLength, int rejectedAfter)
    {
        byte[] bytes = V2(verCmd, famProto, new byte[blockLength]);
        ProxyHeaderParser p = AssertSameEverySplit([.. bytes, .. Tail], ProxyParseStatus.Invalid, rejectedAfter > 0 ? rejectedAfter : bytes.Length);
        Assert.NotNull(p.Error);
    }

    [Fact]
    public void TruncatedTlvIsRejected()
    {
        byte[] addresses = [127, 0, 0, 2, 10, 0, 0, 1, 0, 1, 0, 2];
        byte[] bytes = V2(0x21, 0x11, [.. addresses, 0x01, 0x00, 0x05, (byte)'h', (byte)'2']);
        AssertSameEverySplit([.. bytes, .. Tail], ProxyParseStatus.Invalid, bytes.Length);
        byte[] stub = V2(0x21, 0x11, [.. addresses, 0x01, 0x00]);
        AssertSameEverySplit(stub, ProxyParseStatus.Invalid, stub.Length);
    }

    [Fact]
    public void AWrongSignatureByteIsRejectedWhereItIs()
    {
        for (int i = 0; i < Signature.Length; i++)
        {
            byte[] bytes = V2(0x21, 0x11, new byte[12]);
            bytes[i] ^= 0x40;
            (ProxyParseStatus s, ProxyHeaderParser p, int taken) = Run(bytes);
            Assert.Equal(ProxyParseStatus.Invalid, s);
            Assert.Equal(i + 1, taken);
            Assert.NotNull(p.Error);
        }
    }

    [Fact]
    public void AnIncompleteHeaderWaitsForMore()
    {
        byte[] v1 = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"u8.ToArray();
        byte[] v2 = V2(0x21, 0x11, new byte[12]);
        foreach (byte[] header in new[] { v1, v2 })
        {
            for (int cut = 0; cut < header.Length; cut++)
            {
                (ProxyParseStatus s, ProxyHeaderParser p, int taken) = Run(header[..cut]);
                Assert.Equal(ProxyParseStatus.NeedMore, s);
                Assert.Equal(cut, taken);
                Assert.Null(p.Header);
                Assert.Null(p.Error);
            }
        }
    }

    [Fact]
    public void ManyTinyTlvsAreKeptOnceAsOneBlock()
    {
        byte[] addresses = [127, 0, 0, 2, 10, 0, 0, 1, 0xDB, 0xC4, 0x01, 0xBB];
        byte[] tlvs = Enumerable.Range(0, 1000).SelectMany(i => Tlv(0xE0, [(byte)i])).ToArray(); // 4,000 bytes of 1-byte TLVs
        byte[] header = V2(0x21, 0x11, [.. addresses, .. tlvs]);
        var parser = new ProxyHeaderParser();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(ProxyParseStatus.Complete, parser.Feed(header, out _));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        ProxyTlvList list = parser.Header!.Tlvs;
        Assert.Equal(1000, list.Count);
        Assert.Equal(tlvs.Length, list.Block.Length);
        int n = 0;
        foreach (ProxyTlv tlv in list)
        {
            Assert.Equal(0xE0, tlv.Type);
            Assert.Equal((byte)n, tlv.Value.Span[0]);
            n++;
        }

        Assert.Equal(unchecked((byte)999), list[999].Value.Span[0]);
        // The header, the parser's buffer and one copy of the block: a copy per TLV cost ~80 bytes each (20x here).
        Assert.True(allocated < 4 * header.Length, $"{allocated} bytes allocated for a {header.Length}-byte header");
    }

    [Fact]
    public void TlvsOverTheLimitAreRefusedAsSoonAsTheLengthIsRead()
    {
        byte[] addresses = [127, 0, 0, 2, 10, 0, 0, 1, 0xDB, 0xC4, 0x01, 0xBB];
        byte[] tlvs = Enumerable.Range(0, 16_380).SelectMany(i => Tlv(0xE0, [])).Take(65_000).ToArray();
        byte[] header = V2(0x21, 0x11, [.. addresses, .. tlvs]);
        var parser = new ProxyHeaderParser();
        Assert.Equal(ProxyParseStatus.Invalid, parser.Feed(header.AsSpan(0, 16), out int consumed)); // the fixed part says enough
        Assert.Equal(16, consumed);
        Assert.Contains($"over the {ProxyHeaderParser.DefaultMaxTlvBytes}-byte limit", parser.Error);

        var roomy = new ProxyHeaderParser(maxTlvBytes: 65_000);
        Assert.Equal(ProxyParseStatus.Complete, roomy.Feed(header, out _));
        Assert.Equal(tlvs.Length / 3, roomy.Header!.Tlvs.Count);
    }
}
