using System.Text;

namespace Asyncore;

/// <summary>
/// A channel's terminating condition: a byte string, a byte count, or none. A small immutable value:
/// <see cref="AsyncChat.GetTerminator"/> returns it, <see cref="AsyncChat.SetTerminator(Terminator)"/> takes it.
/// </summary>
/// <remarks>Python: the value of async_chat.terminator</remarks>
public readonly struct Terminator : IEquatable<Terminator>
{
    private readonly byte[]? _bytes;
    private readonly long _count;

    private Terminator(TerminatorKind kind, byte[]? bytes, long count)
    {
        Kind = kind;
        _bytes = bytes;
        _count = count;
    }

    /// <summary>No terminator: everything received is collected.</summary>
    /// <remarks>Python: None</remarks>
    public static Terminator None => default;

    /// <summary>Which kind of condition this is.</summary>
    public TerminatorKind Kind { get; }

    /// <summary>The terminating bytes (empty unless <see cref="Kind"/> is <see cref="TerminatorKind.Bytes"/>).</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>The bytes still to collect (0 unless <see cref="Kind"/> is <see cref="TerminatorKind.Count"/>).</summary>
    public long Count => _count;

    /// <summary>
    /// Whether this condition collects everything that arrives: none, an empty byte string, or a
    /// count of 0 (CPython's <c>if not terminator</c>).
    /// </summary>
    public bool CollectsAll => Kind == TerminatorKind.None || (Kind == TerminatorKind.Bytes ? _bytes!.Length == 0 : _count == 0);

    /// <summary>A byte-string terminator (the bytes are copied).</summary>
    /// <param name="bytes">The terminator, such as <c>"\r\n"u8</c>.</param>
    /// <returns>The value.</returns>
    public static Terminator FromBytes(ReadOnlySpan<byte> bytes) => new(TerminatorKind.Bytes, bytes.ToArray(), 0);

    /// <summary>A byte-string terminator from text.</summary>
    /// <param name="text">The terminator.</param>
    /// <param name="encoding">How to encode it; Latin-1 when null.</param>
    /// <returns>The value.</returns>
    public static Terminator FromString(string text, Encoding? encoding = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new(TerminatorKind.Bytes, (encoding ?? Encoding.Latin1).GetBytes(text), 0);
    }

    /// <summary>A count terminator: found once <paramref name="count"/> more bytes were collected.</summary>
    /// <param name="count">The number of bytes; 0 collects everything.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative.</exception>
    public static Terminator FromCount(long count)
    {
        if (count < 0)
        {
            ThrowNegative(count);
        }

        return new(TerminatorKind.Count, null, count);
    }

    /// <summary>Wraps an array the caller promises never to change (no copy).</summary>
    internal static Terminator FromOwnedBytes(byte[] bytes) => new(TerminatorKind.Bytes, bytes, 0);

    /// <summary>The same kind with a new count (the countdown as data arrives).</summary>
    internal Terminator WithCount(long count) => new(TerminatorKind.Count, null, count);

    private static void ThrowNegative(long count) =>
        throw new ArgumentOutOfRangeException(nameof(count), count, "the number of received bytes must be positive");

    /// <inheritdoc />
    public bool Equals(Terminator other) =>
        Kind == other.Kind && _count == other._count && Bytes.SequenceEqual(other.Bytes);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is Terminator t && Equals(t);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Kind);
        hash.Add(_count);
        hash.AddBytes(Bytes);
        return hash.ToHashCode();
    }

    /// <summary>Equality of kind and value.</summary>
    /// <param name="left">One value.</param>
    /// <param name="right">The other.</param>
    /// <returns>Whether they are equal.</returns>
    public static bool operator ==(Terminator left, Terminator right) => left.Equals(right);

    /// <summary>Inequality of kind or value.</summary>
    /// <param name="left">One value.</param>
    /// <param name="right">The other.</param>
    /// <returns>Whether they differ.</returns>
    public static bool operator !=(Terminator left, Terminator right) => !left.Equals(right);

    /// <summary>Python's repr of the value: <c>None</c>, <c>42</c>, <c>b'\r\n'</c>.</summary>
    /// <returns>The text.</returns>
    public override string ToString()
    {
        switch (Kind)
        {
            case TerminatorKind.None:
                return "None";
            case TerminatorKind.Count:
                return _count.ToString(System.Globalization.CultureInfo.InvariantCulture);
            default:
                var sb = new StringBuilder("b'");
                foreach (byte b in Bytes)
                {
                    sb.Append(b switch
                    {
                        (byte)'\r' => "\\r",
                        (byte)'\n' => "\\n",
                        (byte)'\t' => "\\t",
                        (byte)'\\' => "\\\\",
                        (byte)'\'' => "\\'",
                        >= 0x20 and < 0x7f => ((char)b).ToString(),
                        _ => $"\\x{b:x2}",
                    });
                }

                return sb.Append('\'').ToString();
        }
    }
}
