using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Asyncore.Samples.Http;

/// <summary>How opening a path under the root went.</summary>
internal enum OpenStatus
{
    /// <summary>A regular file, open for reading.</summary>
    File,

    /// <summary>A directory (nothing is kept open).</summary>
    Directory,

    /// <summary>Missing, or not a regular file or directory (a FIFO, a device, a socket): 404, as nginx answers.</summary>
    NotFound,

    /// <summary>Permission denied: 403.</summary>
    Forbidden,

    /// <summary>The path leads outside the folder it must stay in, through a symbolic link: 403, as nginx's disable_symlinks answers.</summary>
    Outside,

    /// <summary>Anything else (out of descriptors, I/O error): 500.</summary>
    Failed,
}

/// <summary>
/// Opens files without ever blocking the loop: open(2) with O_NONBLOCK, so a FIFO under the root
/// does not wait for a writer, then statx(2) on the descriptor, and anything but a regular file
/// or a directory is closed again and answered 404 (a symlink to /dev/zero included), as nginx's
/// static module does. Reads of a regular file do not wait on other processes. Given a folder to
/// stay in, it asks the kernel where the open file really is (/proc/self/fd), after every link on
/// the way was followed, and refuses (403) a file or folder outside it.
/// </summary>
internal static partial class NativeFile
{
    // Linux's values (asm-generic; the same on x86-64 and Arm64).
    private const int ONonBlock = 0x800;
    private const int ONoCtty = 0x100;
    private const int OCloExec = 0x80000;
    private const int OPath = 0x200000;
    private const int AtEmptyPath = 0x1000;
    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;
    private const int SIfMt = 0xF000;
    private const int SIfReg = 0x8000;
    private const int SIfDir = 0x4000;

    private const int EPerm = 1;
    private const int ENoEnt = 2;
    private const int ENxIo = 6;
    private const int EAcces = 13;
    private const int ENotDir = 20;
    private const int ENameTooLong = 36;
    private const int ELoop = 40;

    /// <summary>What statx says of an open file: enough to tell whether a path still names the same file.</summary>
    /// <remarks>For a folder, <see cref="ModifiedNanoseconds"/> tells changes within one second apart (a listing's cache key).</remarks>
    public readonly record struct Facts(long Size, long ModifiedSeconds, ulong Inode = 0, uint ModifiedNanoseconds = 0);

    /// <summary>Opens <paramref name="path"/> for reading if it is a regular file.</summary>
    /// <param name="path">An absolute path.</param>
    /// <param name="file">The open file (only for <see cref="OpenStatus.File"/>; the caller disposes it).</param>
    /// <param name="facts">Its size and modification time.</param>
    /// <param name="within">
    /// A folder's real path (<see cref="RealPath"/>): a path that leads outside it through a symbolic
    /// link is <see cref="OpenStatus.Outside"/>. Null: links are followed wherever they lead.
    /// Checked on Linux only.
    /// </param>
    public static OpenStatus Open(string path, out SafeFileHandle? file, out Facts facts, string? within = null)
    {
        return OperatingSystem.IsLinux() ? OpenLinux(path, out file, out facts, within) : OpenPortable(path, out file, out facts);
    }

    /// <summary>
    /// Where <paramref name="path"/> really is, every symbolic link on the way followed (realpath(3)),
    /// without a trailing '/'; the path itself where that cannot be told (not Linux, or missing).
    /// </summary>
    public static string RealPath(string path)
    {
        string full = Path.GetFullPath(path);
        if (!OperatingSystem.IsLinux())
        {
            return full;
        }

        int fd = OpenRaw(full, OPath | OCloExec);
        if (fd < 0)
        {
            return full;
        }

        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        return WhereIs(fd) ?? full;
    }

    /// <summary>The path the kernel has for an open descriptor (its /proc/self/fd link); null if it cannot say.</summary>
    private static string? WhereIs(int fd)
    {
        try
        {
            return new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Whether <paramref name="real"/> is <paramref name="folder"/> or inside it.</summary>
    private static bool IsWithin(string real, string folder) =>
        folder == "/" || real == folder || (real.Length > folder.Length && real[folder.Length] == '/' && real.StartsWith(folder, StringComparison.Ordinal));

    /// <summary>Whether the deepest folder of <paramref name="path"/> that exists is outside <paramref name="within"/>.</summary>
    private static bool LeadsOutside(string path, string within)
    {
        for (string? folder = Path.GetDirectoryName(path); folder is not null; folder = Path.GetDirectoryName(folder))
        {
            int fd = OpenRaw(folder, OPath | OCloExec);
            if (fd >= 0)
            {
                using var handle = new SafeFileHandle(fd, ownsHandle: true);
                return WhereIs(fd) is not { } real || !IsWithin(real, within);
            }
        }

        return false;
    }

    private static unsafe OpenStatus OpenLinux(string path, out SafeFileHandle? file, out Facts facts, string? within)
    {
        file = null;
        facts = default;
        int fd = OpenRaw(path, ONonBlock | ONoCtty | OCloExec);
        if (fd < 0)
        {
            OpenStatus status = Marshal.GetLastPInvokeError() switch
            {
                ENoEnt or ENotDir or ENameTooLong or ENxIo => OpenStatus.NotFound,
                EAcces or EPerm or ELoop => OpenStatus.Forbidden,
                _ => OpenStatus.Failed,
            };

            // A missing file behind a link that leads out is 403 too, so that 404 against 403 does not
            // tell whether files exist outside the root.
            return within is not null && LeadsOutside(path, within) ? OpenStatus.Outside : status;
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        StatxBuffer st;
        if (Statx(fd, "", AtEmptyPath, StatxBasicStats, &st) != 0)
        {
            handle.Dispose();
            return OpenStatus.Failed;
        }

        int type = st.Mode & SIfMt;
        if (type is not (SIfReg or SIfDir))
        {
            handle.Dispose();
            return OpenStatus.NotFound;
        }

        if (within is not null && (WhereIs(fd) is not { } real || !IsWithin(real, within)))
        {
            handle.Dispose();
            return OpenStatus.Outside;
        }

        if (type == SIfDir)
        {
            handle.Dispose();
            facts = new Facts(checked((long)st.Size), st.MtimeSeconds, st.Inode, st.MtimeNanoseconds);
            return OpenStatus.Directory;
        }

        file = handle;
        facts = new Facts(checked((long)st.Size), st.MtimeSeconds, st.Inode);
        return OpenStatus.File;
    }

    /// <summary>Elsewhere: .NET's own open, which refuses directories but may wait on a FIFO.</summary>
    private static OpenStatus OpenPortable(string path, out SafeFileHandle? file, out Facts facts)
    {
        file = null;
        facts = default;
        if (System.IO.Directory.Exists(path))
        {
            DateTime modified = System.IO.Directory.GetLastWriteTimeUtc(path);
            facts = new Facts(0, new DateTimeOffset(modified).ToUnixTimeSeconds(), 0, (uint)(modified.Ticks % TimeSpan.TicksPerSecond * 100));
            return OpenStatus.Directory;
        }

        try
        {
            file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            facts = new Facts(RandomAccess.GetLength(file), new DateTimeOffset(File.GetLastWriteTimeUtc(file)).ToUnixTimeSeconds());
            return OpenStatus.File;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or PathTooLongException)
        {
            return OpenStatus.NotFound;
        }
        catch (UnauthorizedAccessException)
        {
            return OpenStatus.Forbidden;
        }
        catch (IOException)
        {
            return OpenStatus.Failed;
        }
    }

    /// <summary>What tells one version of a file from another: the inode, size, and modification and change times (ctime moves on chmod and rename too).</summary>
    public readonly record struct Version(ulong Inode, long Size, long MtimeSeconds, uint MtimeNanoseconds, long CtimeSeconds, uint CtimeNanoseconds, bool IsFile);

    /// <summary>The version of what <paramref name="path"/> names now, every link followed (one statx(2); Linux only).</summary>
    public static unsafe bool TryVersionOf(string path, out Version version)
    {
        StatxBuffer st;
        if (!OperatingSystem.IsLinux() || Statx(AtFdCwd, path, 0, StatxBasicStats, &st) != 0)
        {
            version = default;
            return false;
        }

        version = VersionOf(in st);
        return true;
    }

    /// <summary>The version of an open file (Linux only).</summary>
    public static unsafe bool TryVersionOf(SafeFileHandle file, out Version version)
    {
        StatxBuffer st;
        bool added = false;
        try
        {
            file.DangerousAddRef(ref added);
            if (!OperatingSystem.IsLinux() || Statx((int)file.DangerousGetHandle(), "", AtEmptyPath, StatxBasicStats, &st) != 0)
            {
                version = default;
                return false;
            }
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }

        version = VersionOf(in st);
        return true;
    }

    private static Version VersionOf(in StatxBuffer st) =>
        new(st.Inode, checked((long)st.Size), st.MtimeSeconds, st.MtimeNanoseconds, st.CtimeSeconds, st.CtimeNanoseconds, (st.Mode & SIfMt) == SIfReg);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int OpenRaw(string path, int flags);

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, StatxBuffer* buffer);

    /// <summary>struct statx (linux/stat.h): 256 bytes, one layout on every architecture.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct StatxBuffer
    {
        [FieldOffset(28)]
        public ushort Mode;

        [FieldOffset(32)]
        public ulong Inode;

        [FieldOffset(40)]
        public ulong Size;

        [FieldOffset(96)]
        public long CtimeSeconds;

        [FieldOffset(104)]
        public uint CtimeNanoseconds;

        [FieldOffset(112)]
        public long MtimeSeconds;

        [FieldOffset(120)]
        public uint MtimeNanoseconds;
    }
}
