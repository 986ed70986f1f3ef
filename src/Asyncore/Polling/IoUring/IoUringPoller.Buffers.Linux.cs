using System.Buffers;
using System.Runtime.InteropServices;
using Asyncore.Interop;

namespace Asyncore.Polling;

/// <content>The provided-buffer rings the multishot receives pick from: a small group for every reader, a large one for bulk readers.</content>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed unsafe partial class IoUringPoller
{
    /// <summary>A provided-buffer ring (IORING_REGISTER_PBUF_RING) and its buffers, for one ring and one group.</summary>
    private sealed class ProvidedBuffers(ushort group, int count, int size)
    {
        internal readonly ushort Group = group;
        internal readonly int Count = count;
        internal readonly int Size = size;
        internal byte* Ring;
        internal byte* Memory;
        internal ushort Tail;
        internal int Out; // handed to us and not given back
        internal bool Unpublished;

        internal byte* Buffer(ushort bid) => Memory + (long)bid * Size;

        /// <summary>Puts a buffer back for the kernel to pick (published by <see cref="Publish"/>).</summary>
        internal void Add(ushort bid)
        {
            // struct io_uring_buf { u64 addr; u32 len; u16 bid; u16 resv; }; the ring's tail is the first entry's resv,
            // so only the three fields are written.
            byte* e = Ring + ((Tail & (Count - 1)) * 16);
            *(ulong*)e = (ulong)Buffer(bid);
            *(uint*)(e + 8) = (uint)Size;
            *(ushort*)(e + 12) = bid;
            Tail++;
            Unpublished = true;
        }

        internal void Publish()
        {
            Volatile.Write(ref *(ushort*)(Ring + 14), Tail);
            Unpublished = false;
        }
    }

    /// <summary>Registers a provided-buffer ring with the current ring; null (receives stay on recv(2)) where the kernel refuses.</summary>
    private ProvidedBuffers? RegisterBuffers(ushort group, int count, int size)
    {
        nuint ringBytes = (nuint)count * 16;
        void* ring = Libc.Mmap(null, ringBytes, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        if (ring == (void*)-1)
        {
            return null;
        }

        Libc.IoUringBufReg reg = default;
        reg.RingAddr = (ulong)ring;
        reg.RingEntries = (uint)count;
        reg.Bgid = group;
        if (_ring.Register(Libc.IORING_REGISTER_PBUF_RING, &reg, 1) != 0)
        {
            Libc.Munmap(ring, ringBytes);
            return null;
        }

        var b = new ProvidedBuffers(group, count, size) { Ring = (byte*)ring, Memory = (byte*)NativeMemory.AlignedAlloc((nuint)count * (nuint)size, 4096) };
        for (int i = 0; i < count; i++)
        {
            b.Add((ushort)i);
        }

        b.Publish();
        return b;
    }

    /// <summary>The large group on the current ring, registered at the first call; null where the kernel refuses it.</summary>
    private ProvidedBuffers? LargeBuffers()
    {
        if (_largeBuffers is null && !_largeRefused && _buffers is not null)
        {
            _largeBuffers = RegisterBuffers(1, LargeBufferCount, LargeBufferSize);
            _largeRefused = _largeBuffers is null;
        }

        return _largeBuffers;
    }

    /// <summary>The group a queued buffer number (with or without <see cref="IoUringReceiver.LargeTag"/>) belongs to.</summary>
    private ProvidedBuffers GroupOf(ushort tagged) => (tagged & IoUringReceiver.LargeTag) != 0 ? _largeBuffers! : _buffers!;

    private byte* BufferOf(ushort tagged) => GroupOf(tagged).Buffer((ushort)(tagged & ~IoUringReceiver.LargeTag));

    /// <summary>Puts a queued buffer back in its group (published by <see cref="PublishBuffers"/>).</summary>
    private void Return(ushort tagged)
    {
        ProvidedBuffers b = GroupOf(tagged);
        b.Add((ushort)(tagged & ~IoUringReceiver.LargeTag));
        b.Out--;
    }

    private void PublishBuffers()
    {
        if (_buffers is { Unpublished: true })
        {
            _buffers.Publish();
        }

        if (_largeBuffers is { Unpublished: true })
        {
            _largeBuffers.Publish();
        }
    }

    private static void FreeBuffers(ProvidedBuffers? b)
    {
        if (b is not null)
        {
            NativeMemory.AlignedFree(b.Memory);
            Libc.Munmap(b.Ring, (nuint)b.Count * 16);
        }
    }
}
