namespace Asyncore.Polling;

/// <summary>What a channel's receiver and sender on the ring share: the descriptor, the socket behind it, and the generation that tells their completions apart.</summary>
internal abstract class IoUringOperand
{
    private protected IoUringOperand(nint fd, object owner, uint generation)
    {
        Fd = fd;
        Owner = owner;
        Generation = generation;
    }

    /// <summary>The descriptor the operations name.</summary>
    internal readonly nint Fd;

    /// <summary>The socket behind the descriptor when this was made.</summary>
    internal readonly object Owner;

    /// <summary>The generation (with the receive or send bit): the high half of the operations' user_data. Changed only while no operation of this operand is in the kernel.</summary>
    internal uint Generation { get; private protected set; }

    /// <summary>The user_data of this channel's operations: generation, then descriptor.</summary>
    internal ulong UserData => UserDataOf(Fd, Generation);

    /// <summary>The user_data of every operation on the ring, polls included: generation in the high half, descriptor in the low.</summary>
    internal static ulong UserDataOf(nint fd, uint generation) => ((ulong)generation << 32) | (uint)(int)fd;
}
