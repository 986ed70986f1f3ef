using CsCheck;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Framing;

/// <summary>
/// Property: for random streams over small alphabets (which make partial matches likely), random
/// terminator programs (byte strings whose prefixes repeat, counts, None, switched inside
/// FoundTerminator) and random chunkings, the messages are exactly those of one-shot delivery.
/// CsCheck prints the seed of a failing case.
/// </summary>
public class SplitInvarianceTests
{
    private static readonly byte[][] Terms =
    [
        "\r\n"u8.ToArray(), "\n"u8.ToArray(), "aab"u8.ToArray(), "\r\n.\r\n"u8.ToArray(), "<END>"u8.ToArray(), "aa"u8.ToArray(), "abab"u8.ToArray(),
    ];

    internal static readonly Gen<Terminator> GenTerminator = Gen.OneOf(
        Gen.Int[0, Terms.Length - 1].Select(i => Terminator.FromBytes(Terms[i])),
        Gen.Int[0, 12].Select(n => Terminator.FromCount(n)),
        Gen.Const(Terminator.None));

    internal static readonly Gen<byte[]> GenStream =
        Gen.Int[0, 300].SelectMany(n => Gen.OneOf(
            Gen.Byte.Array[n],
            Gen.Int[0, 4].Select(i => "a\r\n.b"u8[i]).Array[n],
            Gen.Int[0, 4].Select(i => "<END>"u8[i]).Array[n]));

    internal static readonly Gen<Terminator[]> GenProgram =
        Gen.Int[1, 4].SelectMany(n => GenTerminator.Array[n]);

    [Fact]
    public void ChunkingNeverChangesTheMessages()
    {
        Gen.Select(GenStream, GenProgram, Gen.Int[0, 400].Array[0, 40])
            .Sample((stream, program, cuts) =>
            {
                // A program that starts with bytes uses them; the rest switch inside FoundTerminator.
                List<byte[]> oneShot = FramerDriver.Messages(stream, [], program);
                List<byte[]> chunked = FramerDriver.Messages(stream, cuts, program);
                Assert.Equal(oneShot, chunked);
            }, iter: 3000);
    }

    [Fact]
    public void ByteAtATimeEqualsOneShot()
    {
        Gen.Select(GenStream, GenProgram)
            .Sample((stream, program) =>
            {
                List<byte[]> oneShot = FramerDriver.Messages(stream, [], program);
                List<byte[]> single = FramerDriver.Messages(stream, Enumerable.Range(1, stream.Length), program);
                Assert.Equal(oneShot, single);
            }, iter: 500);
    }

    [Fact]
    public void CarriedBytesAreAlwaysShorterThanTheTerminator()
    {
        Gen.Select(GenStream, GenProgram, Gen.Int[0, 400].Array[0, 40])
            .Sample((stream, program, cuts) =>
            {
                var framer = new global::Asyncore.Framing.ChatFramer();
                var target = new RecordingTarget(program);
                int at = 0;
                foreach (int cut in cuts.Where(c => c > 0 && c < stream.Length).Distinct().Order().Append(stream.Length))
                {
                    framer.Feed(stream.AsSpan(at, cut - at), ref target);
                    at = cut;
                    Terminator t = target.Terminator;
                    int limit = t.Kind == TerminatorKind.Bytes ? Math.Max(0, t.Bytes.Length - 1) : 0;
                    Assert.True(framer.Buffered <= limit, $"carried {framer.Buffered} with terminator {t}");
                }
            }, iter: 1000);
    }
}
