using BenchmarkDotNet.Attributes;
using Asyncore.Framing;

namespace Asyncore.Bench;

/// <summary>A framer target that only counts (a struct: the generic Feed is then specialised, with no interface calls).</summary>
internal struct Counting : IFramerTarget
{
    public long Bytes;
    public long Messages;

    public Terminator Terminator { get; set; }

    public void CollectIncomingData(ReadOnlySpan<byte> data) => Bytes += data.Length;

    public void FoundTerminator() => Messages++;
}

/// <summary>
/// The framer against the physical reference: the same 1 MiB of "\r\n"-terminated lines, in the
/// same 4 KiB reads (the spec's default buffer), through ChatFramer and through a plain
/// Span.IndexOf scan that only counts terminators. Bytes/s = 1 MiB / Mean; Allocated is per MiB,
/// so 0 B there is 0 B per message.
/// </summary>
[MemoryDiagnoser]
public class FramerThroughput
{
    private const int Total = 1 << 20;
    private const int Read = 4096;
    private byte[] _data = [];
    private ChatFramer _framer = new();
    private static readonly Terminator CrLf = Terminator.FromBytes("\r\n"u8);

    [Params(16, 128, 4096)]
    public int LineLength { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Total];
        for (int i = 0; i < Total; i++)
        {
            _data[i] = (byte)('a' + (i % 26));
        }

        for (int end = LineLength; end <= Total; end += LineLength)
        {
            _data[end - 2] = (byte)'\r';
            _data[end - 1] = (byte)'\n';
        }

        _framer = new ChatFramer();
    }

    [Benchmark(Baseline = true, Description = "Span.IndexOf scan")]
    public long IndexOfScan()
    {
        long found = 0;
        ReadOnlySpan<byte> term = "\r\n"u8;
        for (int at = 0; at < Total; at += Read)
        {
            ReadOnlySpan<byte> chunk = _data.AsSpan(at, Math.Min(Read, Total - at));
            int i;
            while ((i = chunk.IndexOf(term)) >= 0)
            {
                found++;
                chunk = chunk[(i + term.Length)..];
            }
        }

        return found;
    }

    [Benchmark(Description = "ChatFramer")]
    public long Framer()
    {
        var target = new Counting { Terminator = CrLf };
        for (int at = 0; at < Total; at += Read)
        {
            int n = Math.Min(Read, Total - at);
            _data.AsSpan(at, n).CopyTo(_framer.PrepareRead(n));
            _framer.Commit(n);
            _framer.Feed(ref target);
            _framer.ReleaseIfEmpty();
        }

        return target.Messages;
    }
}

/// <summary>One 64 MiB message fed 4 KiB at a time, ending in its terminator: linear, not quadratic.</summary>
[MemoryDiagnoser]
public class LargeMessage
{
    private const int Total = 64 << 20;
    private const int Read = 4096;
    private byte[] _data = [];
    private ChatFramer _framer = new();
    private static readonly Terminator CrLf = Terminator.FromBytes("\r\n"u8);

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Total];
        new Random(1).NextBytes(_data);
        for (int i = 0; i < Total; i++)
        {
            if (_data[i] == '\r')
            {
                _data[i] = (byte)'r';
            }
        }

        _data[^2] = (byte)'\r';
        _data[^1] = (byte)'\n';
        _framer = new ChatFramer();
    }

    [Benchmark(Baseline = true, Description = "Span.IndexOf scan, 64 MiB")]
    public long IndexOfScan()
    {
        long found = 0;
        for (int at = 0; at < Total; at += Read)
        {
            if (_data.AsSpan(at, Read).IndexOf("\r\n"u8) >= 0)
            {
                found++;
            }
        }

        return found;
    }

    [Benchmark(Description = "ChatFramer, 64 MiB message")]
    public long Framer()
    {
        var target = new Counting { Terminator = CrLf };
        for (int at = 0; at < Total; at += Read)
        {
            _data.AsSpan(at, Read).CopyTo(_framer.PrepareRead(Read));
            _framer.Commit(Read);
            _framer.Feed(ref target);
            _framer.ReleaseIfEmpty();
        }

        return target.Bytes;
    }
}
