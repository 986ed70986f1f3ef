using Asyncore.Framing;

namespace Asyncore.Tests.Support;

/// <summary>
/// A framer target that records every event and moves through a terminator program (the next one is
/// set inside each FoundTerminator, as the asynchat documentation's http_request_handler does).
/// </summary>
internal struct RecordingTarget : IFramerTarget
{
    private readonly Terminator[] _program;
    private int _step;

    public RecordingTarget(params Terminator[] program)
    {
        _program = program;
        Terminator = program[0];
        Events = new List<(char Kind, byte[] Data, Terminator At)>();
    }

    public Terminator Terminator { get; set; }

    public List<(char Kind, byte[] Data, Terminator At)> Events { get; }

    public void CollectIncomingData(ReadOnlySpan<byte> data)
    {
        Assert.False(data.IsEmpty, "CollectIncomingData must never be called with nothing");
        Events.Add(('c', data.ToArray(), default));
    }

    public void FoundTerminator()
    {
        Events.Add(('f', [], Terminator));
        _step++;
        Terminator = _program[_step % _program.Length];
    }

    /// <summary>The messages: everything collected between two FoundTerminator calls, and the tail after the last.</summary>
    public readonly List<byte[]> Messages()
    {
        var messages = new List<byte[]>();
        var current = new List<byte>();
        foreach (var e in Events)
        {
            if (e.Kind == 'c')
            {
                current.AddRange(e.Data);
            }
            else
            {
                messages.Add(current.ToArray());
                current.Clear();
            }
        }

        messages.Add(current.ToArray());
        return messages;
    }
}

internal static class FramerDriver
{
    /// <summary>Feeds <paramref name="input"/> cut at <paramref name="cuts"/> and returns the target and the bytes left unread.</summary>
    public static (RecordingTarget Target, byte[] Unread) Run(byte[] input, IEnumerable<int> cuts, params Terminator[] program)
    {
        var framer = new ChatFramer();
        var target = new RecordingTarget(program);
        int at = 0;
        foreach (int cut in cuts.Where(c => c > 0 && c < input.Length).Distinct().Order().Append(input.Length))
        {
            framer.Feed(input.AsSpan(at, cut - at), ref target);
            at = cut;
        }

        return (target, framer.Unread.ToArray());
    }

    /// <summary>Messages with the unread tail appended to the last one: what one-shot delivery plus end of input yields.</summary>
    public static List<byte[]> Messages(byte[] input, IEnumerable<int> cuts, params Terminator[] program)
    {
        var (target, unread) = Run(input, cuts, program);
        List<byte[]> messages = target.Messages();
        messages[^1] = [.. messages[^1], .. unread];
        return messages;
    }
}
