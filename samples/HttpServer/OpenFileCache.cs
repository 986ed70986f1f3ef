using Microsoft.Win32.SafeHandles;

namespace Asyncore.Samples.Http;

/// <summary>
/// Open files kept between requests, as nginx's <c>open_file_cache</c>: the descriptor, what statx
/// said of it, and the file-dependent part of its 200 head (built once per version of the file), keyed
/// by path. A hit costs one statx(2) of the path, which must still name the same version (inode, size,
/// mtime and ctime), instead of open(2), statx(2), the symbolic-link check and close(2); a file that
/// changed is opened again. At most <see cref="Capacity"/> files, the least recently used given up
/// first. A file still being sent when it is given up stays open until its last answer is done.
/// One per loop (the responder's): nothing locks.
/// </summary>
internal sealed class OpenFileCache
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private Entry? _newest;
    private Entry? _oldest;

    /// <param name="capacity">The most files kept open; 0 keeps none (every request opens its file).</param>
    public OpenFileCache(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        Capacity = OperatingSystem.IsLinux() ? capacity : 0; // versions are told by statx(2)
    }

    /// <summary>The most files kept open.</summary>
    public int Capacity { get; }

    /// <summary>How many files are kept open now.</summary>
    public int Count => _entries.Count;

    /// <summary>Requests answered from a kept file (tests).</summary>
    public long Hits { get; private set; }

    /// <summary>
    /// Opens <paramref name="path"/> as <see cref="NativeFile.Open"/> does, or finds it kept. For
    /// <see cref="OpenStatus.File"/>, <paramref name="file"/> is in use until the caller calls
    /// <see cref="Entry.Release"/> (once per <see cref="Entry.Acquire"/>, and once for this call).
    /// </summary>
    public OpenStatus Open(string path, string? within, out Entry? file, out NativeFile.Facts facts)
    {
        if (_entries.TryGetValue(path, out Entry? kept))
        {
            if (NativeFile.TryVersionOf(path, out NativeFile.Version now) && now == kept.Version)
            {
                Hits++;
                MoveToFront(kept);
                kept.Acquire();
                file = kept;
                facts = kept.Facts;
                return OpenStatus.File;
            }

            Remove(kept); // changed, moved or gone: opened again below, with every check
        }

        OpenStatus status = NativeFile.Open(path, out SafeFileHandle? handle, out facts, within);
        if (status != OpenStatus.File)
        {
            file = null;
            return status;
        }

        var entry = new Entry(path, handle!, facts);
        entry.Acquire();
        file = entry;
        if (Capacity > 0 && NativeFile.TryVersionOf(handle!, out NativeFile.Version version))
        {
            entry.Version = version;
            entry.Kept = true;
            _entries[path] = entry;
            Link(entry);
            if (_entries.Count > Capacity)
            {
                Remove(_oldest!);
            }
        }

        return status;
    }

    /// <summary>Gives up every kept file (files still being sent close when their answers are done).</summary>
    public void Clear()
    {
        while (_oldest is { } e)
        {
            Remove(e);
        }
    }

    private void Remove(Entry entry)
    {
        _entries.Remove(entry.Path);
        Unlink(entry);
        entry.Kept = false;
        entry.CloseIfUnused();
    }

    private void Link(Entry e)
    {
        e.Older = _newest;
        e.Newer = null;
        if (_newest is not null)
        {
            _newest.Newer = e;
        }

        _newest = e;
        _oldest ??= e;
    }

    private void Unlink(Entry e)
    {
        if (e.Newer is not null)
        {
            e.Newer.Older = e.Older;
        }
        else
        {
            _newest = e.Older;
        }

        if (e.Older is not null)
        {
            e.Older.Newer = e.Newer;
        }
        else
        {
            _oldest = e.Newer;
        }

        e.Newer = e.Older = null;
    }

    private void MoveToFront(Entry e)
    {
        if (_newest != e)
        {
            Unlink(e);
            Link(e);
        }
    }

    /// <summary>One open file: kept by the cache, used by the answers that send it.</summary>
    internal sealed class Entry(string path, SafeFileHandle file, NativeFile.Facts facts)
    {
        private int _uses;

        public string Path { get; } = path;

        public SafeFileHandle File { get; } = file;

        public NativeFile.Facts Facts { get; } = facts;

        public NativeFile.Version Version { get; set; }

        /// <summary>Whether the cache still keeps it (otherwise it closes when its last use ends).</summary>
        public bool Kept { get; set; }

        /// <summary>The fields of a 200 head that depend on the file alone (Content-Type to Accept-Ranges), built at its first 200.</summary>
        public byte[]? Fields200 { get; set; }

        /// <summary>Its ETag, formatted once.</summary>
        public byte[]? ETag { get; set; }

        internal Entry? Newer { get; set; }

        internal Entry? Older { get; set; }

        /// <summary>One more use (an answer that will read it later).</summary>
        public void Acquire() => _uses++;

        /// <summary>A use ended; a file the cache gave up closes with its last use.</summary>
        public void Release()
        {
            _uses--;
            CloseIfUnused();
        }

        internal void CloseIfUnused()
        {
            if (_uses <= 0 && !Kept)
            {
                File.Dispose();
            }
        }
    }
}
