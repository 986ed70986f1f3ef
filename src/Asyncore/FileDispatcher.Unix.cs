using System.Runtime.Versioning;
using Asyncore.Interop;

namespace Asyncore;

/// <summary>
/// A channel over a plain file descriptor (a pipe, a terminal): it wraps a duplicate in a
/// <see cref="FileWrapper"/>, sets the descriptor non-blocking and joins the map as connected.
/// <see cref="Recv(Span{byte})"/> and <see cref="Send"/> go to read(2) and write(2).
/// </summary>
/// <remarks>Python: asyncore.file_dispatcher (POSIX only).</remarks>
[UnsupportedOSPlatform("windows")]
public class FileDispatcher : Dispatcher
{
    /// <summary>Creates the channel over a duplicate of <paramref name="fd"/>.</summary>
    /// <param name="fd">An open descriptor; it is made non-blocking and stays the caller's to close.</param>
    /// <param name="map">The map to join; <see cref="SocketMap.Default"/> when null.</param>
    /// <remarks>Python: file_dispatcher(fd, map=None)</remarks>
    public FileDispatcher(int fd, SocketMap? map = null) : base(null, map)
    {
        Connected = true;
        SetFile(fd);
        Libc.SetNonBlocking(fd, true);
    }

    /// <summary>The wrapper around the duplicated descriptor.</summary>
    /// <remarks>Python: file_dispatcher.socket (a file_wrapper)</remarks>
    public FileWrapper? File { get; private set; }

    /// <summary>Wraps a duplicate of <paramref name="fd"/> and registers the channel under it.</summary>
    /// <param name="fd">An open descriptor.</param>
    /// <remarks>Python: file_dispatcher.set_file(fd)</remarks>
    public void SetFile(int fd)
    {
        File = new FileWrapper(fd);
        SetDescriptor(File.Fd);
    }

    internal override object PollOwner => (object?)File ?? this;

    internal override bool DescriptorClosedElsewhere => File is { Fd: < 0 };

    /// <summary>Reads from the descriptor: 0 at end of file (after <see cref="Dispatcher.HandleClose"/>), <see cref="Dispatcher.WouldBlock"/> when nothing is there yet.</summary>
    /// <param name="buffer">Where the bytes go.</param>
    /// <returns>The number of bytes read.</returns>
    /// <remarks>Python: dispatcher.recv over file_wrapper.recv</remarks>
    public override int Recv(Span<byte> buffer)
    {
        FileWrapper file = File ?? throw Errors.NoSocket();
        int n = file.Recv(buffer);
        if (n == 0)
        {
            NotifyClose();
        }
        else if (n > 0)
        {
            AsyncoreMetrics.Received.Add(n);
            Touch();
        }

        return n;
    }

    /// <summary>Writes to the descriptor.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>How many were written; 0 when the descriptor is full.</returns>
    /// <remarks>Python: dispatcher.send over file_wrapper.send</remarks>
    public override int Send(ReadOnlySpan<byte> data)
    {
        FileWrapper file = File ?? throw Errors.NoSocket();
        int n = file.Send(data);
        AsyncoreMetrics.Sent.Add(n);
        if (n > 0)
        {
            Touch();
        }

        return n;
    }

    private protected override void CloseHandle()
    {
        try
        {
            File?.Close();
        }
        catch (IOException e) when (e.HResult == Libc.EBADF)
        {
            // CPython ignores EBADF (and ENOTCONN) when closing.
        }
    }

    private protected override int PendingError() => File?.GetSocketError() ?? 0;
}
