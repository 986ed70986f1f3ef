using System.Text;

namespace Asyncore.Samples.Smtp;

/// <summary>
/// A Maildir (tmp/, new/, cur/) that mail readers such as mutt or Python's mailbox.Maildir open.
/// A message is written to tmp/ as it arrives, under a name unique to this host, process and
/// moment; at the end of data it is flushed to disk and renamed into new/, so no reader ever sees
/// part of a message. The message file holds the bytes exactly as received (dot-unstuffed, CRLF
/// line ends), as an .eml file does. The envelope, which the message itself may not show (Bcc
/// recipients, the bounce address), goes to a sidecar envelope/NAME written before the rename:
/// "MAIL FROM:&lt;sender&gt;" with its parameters, then one "RCPT TO:&lt;recipient&gt;" line each.
/// envelope/ is not a Maildir folder, so mail readers ignore it. At start, files left in tmp/ by a
/// process that stopped mid-message (killed, or the machine went down) are deleted once they have
/// not been touched for 36 hours, as the Maildir specification asks of readers and as Dovecot does.
/// </summary>
public sealed class MaildirStore : IMessageStore
{
    /// <summary>How long a file may sit in tmp/ untouched before it is taken for a leftover: 36 hours, the Maildir specification's figure.</summary>
    public static readonly TimeSpan StaleAge = TimeSpan.FromHours(36);

    private static long s_counter;
    private readonly string _host;

    public MaildirStore(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        foreach (string sub in new[] { "tmp", "new", "cur", "envelope" })
        {
            Directory.CreateDirectory(System.IO.Path.Combine(Path, sub));
        }

        // The Maildir convention: "/" and ":" in the host name are written as \057 and \072.
        _host = Environment.MachineName.Replace("/", "\\057", StringComparison.Ordinal).Replace(":", "\\072", StringComparison.Ordinal);
        StaleRemoved = RemoveStale(DateTime.UtcNow - StaleAge);
    }

    /// <summary>How many leftover files in tmp/ were deleted when the store was opened.</summary>
    public int StaleRemoved { get; }

    /// <summary>
    /// Deletes the files in tmp/ neither written nor read since <paramref name="before"/>, each with its
    /// envelope/ sidecar unless the message itself reached new/ or cur/. A file that cannot be
    /// deleted is left where it is: it is never read as a message.
    /// </summary>
    /// <returns>How many files of tmp/ were deleted.</returns>
    public int RemoveStale(DateTime before)
    {
        int removed = 0;
        foreach (FileInfo file in new DirectoryInfo(System.IO.Path.Combine(Path, "tmp")).EnumerateFiles())
        {
            try
            {
                if (file.LastWriteTimeUtc >= before || file.LastAccessTimeUtc >= before)
                {
                    continue;
                }

                file.Delete();
                removed++;
                string name = file.Name;
                bool delivered = File.Exists(System.IO.Path.Combine(Path, "new", name))
                    || Directory.EnumerateFiles(System.IO.Path.Combine(Path, "cur"), name + ":*").Any();
                if (!delivered)
                {
                    Delete(System.IO.Path.Combine(Path, "envelope", name));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // gone already, or not ours to delete
            }
        }

        return removed;
    }

    private static void Delete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Nothing more to do: a file left in tmp/ or envelope/ is never read as a message.
        }
    }

    /// <summary>The Maildir's folder.</summary>
    public string Path { get; }

    public IMessageWriter Begin(SmtpEnvelope envelope) => new Writer(this, envelope, UniqueName());

    /// <summary>time.MmicrosecondsPpidQcounter.host: unique on this host without any lock or lookup.</summary>
    private string UniqueName()
    {
        long micros = DateTimeOffset.UtcNow.Ticks / 10 - DateTimeOffset.UnixEpoch.Ticks / 10;
        return $"{micros / 1_000_000}.M{micros % 1_000_000}P{Environment.ProcessId}Q{Interlocked.Increment(ref s_counter)}.{_host}";
    }

    /// <summary>The envelope sidecar's text (addresses were checked for control characters before they got here).</summary>
    public static string EnvelopeText(SmtpEnvelope envelope)
    {
        var text = new StringBuilder();
        text.Append("MAIL FROM:<").Append(envelope.MailFrom).Append('>');
        foreach (string option in envelope.MailOptions)
        {
            text.Append(' ').Append(option);
        }

        text.Append('\n');
        foreach (string rcpt in envelope.RcptTos)
        {
            text.Append("RCPT TO:<").Append(rcpt).Append(">\n");
        }

        return text.ToString();
    }

    private sealed class Writer : IMessageWriter
    {
        private readonly MaildirStore _store;
        private readonly SmtpEnvelope _envelope;
        private readonly string _name;
        private readonly string _tmp;
        private FileStream? _file;

        public Writer(MaildirStore store, SmtpEnvelope envelope, string name)
        {
            _store = store;
            _envelope = envelope;
            _name = name;
            _tmp = System.IO.Path.Combine(store.Path, "tmp", name);
            _file = new FileStream(_tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024);
        }

        public void Write(ReadOnlySpan<byte> data) => _file!.Write(data);

        public string Commit()
        {
            string envelope = System.IO.Path.Combine(_store.Path, "envelope", _name);
            try
            {
                _file!.Flush(flushToDisk: true);
                _file.Dispose();
                _file = null;
                using (var sidecar = new FileStream(envelope, FileMode.CreateNew, FileAccess.Write))
                {
                    sidecar.Write(Encoding.UTF8.GetBytes(EnvelopeText(_envelope)));
                    sidecar.Flush(flushToDisk: true);
                }

                // rename(2) within one file system: the message appears in new/ whole, or not at all.
                File.Move(_tmp, System.IO.Path.Combine(_store.Path, "new", _name));
                return "new/" + _name;
            }
            catch
            {
                Abort();
                Delete(envelope);
                throw;
            }
        }

        public void Abort()
        {
            try
            {
                _file?.Dispose(); // may try to write what is buffered, and fail as the writes did
            }
            catch (IOException)
            {
            }

            _file = null;
            Delete(_tmp);
        }
    }
}
