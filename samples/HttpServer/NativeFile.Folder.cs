using System.Runtime.InteropServices;

namespace Asyncore.Samples.Http;

/// <summary>One entry of a folder, as a listing shows it.</summary>
/// <param name="Name">The name's bytes as the file system holds them (not necessarily UTF-8).</param>
/// <param name="IsFolder">A folder, or a link to one.</param>
/// <param name="Size">The size in bytes; -1 when it cannot be told (a broken link, a file gone meanwhile).</param>
/// <param name="ModifiedSeconds">The modification time (Unix seconds); null when it cannot be told.</param>
internal readonly record struct FolderEntry(byte[] Name, bool IsFolder, long Size, long? ModifiedSeconds);

/// <summary>Reading a folder for its listing.</summary>
internal static partial class NativeFile
{
    private const int AtSymlinkNoFollow = 0x100;

    /// <summary>
    /// The entries of <paramref name="folder"/> but "." and "..", with each name's bytes as they are
    /// (readdir(3): a name that is not UTF-8 keeps its bytes) and what statx says of it, following a
    /// link (a link to a folder is a folder), or of the link itself when its target is missing. An
    /// entry that cannot be looked at is still listed, with an unknown size and time. Blocks on the
    /// disk: call it off the loop thread.
    /// </summary>
    /// <returns>The entries, or null when the folder cannot be read.</returns>
    public static List<FolderEntry>? ReadFolder(string folder) =>
        OperatingSystem.IsLinux() ? ReadFolderLinux(folder) : ReadFolderPortable(folder);

    private static unsafe List<FolderEntry>? ReadFolderLinux(string folder)
    {
        IntPtr dir = OpenDir(folder);
        if (dir == IntPtr.Zero)
        {
            return null;
        }

        try
        {
            int fd = DirFd(dir);
            var entries = new List<FolderEntry>();
            while (true)
            {
                byte* dirent = (byte*)ReadDir(dir);
                if (dirent == null)
                {
                    // End of the folder, or an error (errno then says which): what was read is listed either way.
                    break;
                }

                // struct dirent on Linux (glibc, 64-bit): d_ino 8, d_off 8, d_reclen 2, d_type 1, then d_name.
                byte* name = dirent + 19;
                var bytes = new ReadOnlySpan<byte>(name, MemoryMarshal.CreateReadOnlySpanFromNullTerminated(name).Length);
                if (bytes.SequenceEqual("."u8) || bytes.SequenceEqual(".."u8))
                {
                    continue;
                }

                byte type = dirent[18];
                StatxBuffer st;
                if (StatxAt(fd, name, 0, StatxBasicStats, &st) == 0)
                {
                    bool isFolder = (st.Mode & SIfMt) == SIfDir;
                    entries.Add(new FolderEntry(bytes.ToArray(), isFolder, isFolder ? -1 : (long)st.Size, st.MtimeSeconds));
                }
                else if (StatxAt(fd, name, AtSymlinkNoFollow, StatxBasicStats, &st) == 0)
                {
                    entries.Add(new FolderEntry(bytes.ToArray(), false, -1, st.MtimeSeconds)); // a link whose target is missing: its own time, no size
                }
                else
                {
                    entries.Add(new FolderEntry(bytes.ToArray(), type == 4 /* DT_DIR */, -1, null));
                }
            }

            return entries;
        }
        finally
        {
            _ = CloseDir(dir);
        }
    }

    /// <summary>Elsewhere: .NET's enumeration (names as UTF-8), each entry looked at on its own so one bad entry cannot fail the rest.</summary>
    private static List<FolderEntry>? ReadFolderPortable(string folder)
    {
        var entries = new List<FolderEntry>();
        try
        {
            foreach (FileSystemInfo info in new DirectoryInfo(folder).EnumerateFileSystemInfos())
            {
                bool isFolder = info is DirectoryInfo;
                long size = -1;
                long? modified = null;
                try
                {
                    size = isFolder ? -1 : ((FileInfo)info).Length;
                    modified = new DateTimeOffset(info.LastWriteTimeUtc).ToUnixTimeSeconds();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // listed with what is known
                }

                entries.Add(new FolderEntry(System.Text.Encoding.UTF8.GetBytes(info.Name), isFolder, size, modified));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return entries;
    }

    [LibraryImport("libc", EntryPoint = "opendir", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial IntPtr OpenDir(string path);

    [LibraryImport("libc", EntryPoint = "readdir", SetLastError = true)]
    private static partial IntPtr ReadDir(IntPtr dir);

    [LibraryImport("libc", EntryPoint = "closedir")]
    private static partial int CloseDir(IntPtr dir);

    [LibraryImport("libc", EntryPoint = "dirfd")]
    private static partial int DirFd(IntPtr dir);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static unsafe partial int StatxAt(int dirfd, byte* path, int flags, uint mask, StatxBuffer* buffer);
}
