using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Asyncore.Interop;

namespace Asyncore;

/// <summary>
/// A file descriptor with the few socket-like methods asyncore needs (recv, send, close, fileno),
/// so that pipes and other descriptors can sit in a <see cref="SocketMap"/>. It owns a duplicate of
/// the descriptor it is given; the caller keeps (and closes) the original.
/// </summary>
/// <remarks>Python: asyncore.file_wrapper (POSIX only).</remarks>
[UnsupportedOSPlatform("windows")]
public sealed class FileWrapper : IDisposable
{
    /// <summary>Wraps a duplicate of <paramref name="fd"/>.</summary>
    /// <param name="fd">An open descriptor; it stays the caller's.</param>
    /// <exception cref="IOException">dup(2) failed.</exception>
    /// <remarks>Python: file_wrapper(fd)</remarks>
    public FileWrapper(int fd)
    {
        int dup = Libc.Dup(fd);
        if (dup < 0)
        {
            throw Errors.IOError(Marshal.GetLastPInvokeError());
        }

        Fd = dup;
    }

    /// <summary>Closes the descriptor if it was never closed. (CPython also warns with a ResourceWarning, which .NET does not have.)</summary>
    ~FileWrapper()
    {
        if (Fd >= 0)
        {
            Libc.Close(Fd);
            Fd = -1;
        }
    }

    /// <summary>The owned descriptor, or -1 once closed.</summary>
    /// <remarks>Python: file_wrapper.fd</remarks>
    public int Fd { get; private set; }

    /// <summary>The owned descriptor.</summary>
    /// <returns><see cref="Fd"/>.</returns>
    /// <remarks>Python: file_wrapper.fileno()</remarks>
    public int Fileno() => Fd;

    /// <summary>Reads what is there into <paramref name="buffer"/>.</summary>
    /// <param name="buffer">Where the bytes go.</param>
    /// <returns>The number of bytes read (0 at end of file), or <see cref="Dispatcher.WouldBlock"/> on a non-blocking descriptor with nothing to read.</returns>
    /// <exception cref="IOException">read(2) failed (for example, the descriptor is closed).</exception>
    /// <remarks>Python: file_wrapper.recv / read</remarks>
    public unsafe int Recv(Span<byte> buffer)
    {
        while (true)
        {
            nint n;
            fixed (byte* p = buffer)
            {
                n = Libc.Read(Fd, p, buffer.Length);
            }

            if (n >= 0)
            {
                return (int)n;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.EAGAIN)
            {
                return Dispatcher.WouldBlock;
            }

            if (errno != Libc.EINTR)
            {
                throw Errors.IOError(errno);
            }
        }
    }

    /// <summary>Reads up to <paramref name="count"/> bytes into a new array.</summary>
    /// <param name="count">The most to read.</param>
    /// <returns>The bytes; empty at end of file or when nothing is there yet.</returns>
    /// <exception cref="IOException">read(2) failed.</exception>
    /// <remarks>Python: file_wrapper.recv(n) / read(n)</remarks>
    public byte[] Recv(int count)
    {
        byte[] buffer = new byte[count];
        int n = Recv(buffer.AsSpan());
        return n <= 0 ? [] : buffer.AsSpan(0, n).ToArray();
    }

    /// <summary>Same as <see cref="Recv(int)"/>.</summary>
    /// <param name="count">The most to read.</param>
    /// <returns>The bytes.</returns>
    /// <remarks>Python: file_wrapper.read</remarks>
    public byte[] Read(int count) => Recv(count);

    /// <summary>Writes what the descriptor takes now.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>How many were written; 0 when a non-blocking descriptor is full.</returns>
    /// <exception cref="IOException">write(2) failed.</exception>
    /// <remarks>Python: file_wrapper.send / write</remarks>
    public unsafe int Send(ReadOnlySpan<byte> data)
    {
        while (true)
        {
            nint n;
            fixed (byte* p = data)
            {
                n = Libc.Write(Fd, p, data.Length);
            }

            if (n >= 0)
            {
                return (int)n;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.EAGAIN)
            {
                return 0;
            }

            if (errno != Libc.EINTR)
            {
                throw Errors.IOError(errno);
            }
        }
    }

    /// <summary>Same as <see cref="Send"/>.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>How many were written.</returns>
    /// <remarks>Python: file_wrapper.write</remarks>
    public int Write(ReadOnlySpan<byte> data) => Send(data);

    /// <summary>asyncore asks only for SO_ERROR, which a plain descriptor never has.</summary>
    /// <returns>0.</returns>
    /// <remarks>Python: file_wrapper.getsockopt(SOL_SOCKET, SO_ERROR)</remarks>
    public int GetSocketError() => 0;

    /// <summary>Closes the descriptor. <see cref="Fd"/> is -1 afterwards even if close(2) fails, so a second call does nothing.</summary>
    /// <exception cref="IOException">close(2) failed (for example, the descriptor had been closed behind the wrapper's back).</exception>
    /// <remarks>Python: file_wrapper.close()</remarks>
    public void Close()
    {
        if (Fd < 0)
        {
            return;
        }

        int fd = Fd;
        Fd = -1;
        GC.SuppressFinalize(this);
        if (Libc.Close(fd) != 0)
        {
            throw Errors.IOError(Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>Same as <see cref="Close"/>.</summary>
    public void Dispose() => Close();
}
