using System.Net.Sockets;
using Asyncore.Output;

namespace Asyncore;

/// <content>File regions in the output queue: sent by the transport without a copy where it can, read and sent where it cannot.</content>
public abstract partial class AsyncChat
{
    /// <summary>The most bytes one sendfile(2) call is asked for, so one fast reader cannot hold the loop (nginx's <c>sendfile_max_chunk</c>, 2 MiB).</summary>
    internal const int SendFileChunk = 2 * 1024 * 1024;

    /// <summary>
    /// The file region at the head of the queue waits for the transport (the ring sends part of it, or
    /// the bytes before it): the channel hears a write event when that is through, so the socket's
    /// readiness is not watched meanwhile.
    /// </summary>
    private bool RegionWaitsForTransport => _fifo.First.Producer is FileRegion && TransportSendPending();

    /// <summary>Queues <paramref name="region"/> behind what is queued (PushWithProducer's path for a region).</summary>
    private void QueueRegion(FileRegion region)
    {
        if (region.Queued)
        {
            throw new InvalidOperationException("this file region is already queued; queue a new region for each send");
        }

        if (IsClosed || region.IsCompleted)
        {
            region.End(); // a closed channel queues nothing: the region ends now and closes its file
            return;
        }

        region.Queued = true;
        _fifo.Enqueue(new ProducerFifo.Entry { Producer = region, RegionPending = region.Remaining });
        AfterOutputChange();
        SendNowOrAtEndOfPass();
    }

    /// <summary>
    /// One send from the file region at the head of the queue: sendfile(2) through the transport when
    /// it can (the channel in the clear, the library's own <see cref="Dispatcher.Send"/>), else the
    /// next block read from the file, through <see cref="Dispatcher.Send"/>. A region sent in full
    /// leaves the queue; a file that ends early closes the channel.
    /// </summary>
    /// <returns>Whether the caller may send again at once: everything asked was taken and the region did not reach its per-call limit.</returns>
    private bool SendRegionAtHead(FileRegion region)
    {
        if (!region.EnsureOpen())
        {
            RegionCameUpShort(region); // the file it was to open is gone or changed: the answer cannot be given
            return false;
        }

        int asked, sent;
        if (!region.CopyOnly && !region.HasBlock && SendsFilesNow)
        {
            asked = (int)Math.Min(region.Remaining, SendFileChunk);
            sent = SendFileGuarded(region, asked);
            if (sent == FileNotSendable)
            {
                region.CopyOnly = true; // this file cannot go through sendfile(2): copy it from here on
                return true;
            }

            if (sent == 0)
            {
                RegionCameUpShort(region);
                return false;
            }

            if (sent > 0)
            {
                region.SentWithoutCopy += sent;
            }
        }
        else
        {
            ReadOnlySpan<byte> block;
            try
            {
                if (!region.NextBlock(out block))
                {
                    RegionCameUpShort(region);
                    return false;
                }
            }
            catch (IOException e)
            {
                AsyncoreMetrics.Failures.Add(1);
                HandleError(e);
                return false;
            }

            asked = block.Length;
            sent = SendGuarded(block);
        }

        if (sent <= 0)
        {
            return false; // would block, or the send failed (and HandleError or HandleClose ran)
        }

        region.Advance(sent);
        _fifo.RegionSent(sent);
        if (region.Remaining == 0)
        {
            _fifo.DequeueFront();
            region.End();
        }

        return sent == asked && asked < SendFileChunk;
    }

    /// <summary>sendfile(2) with initiate_send's error rule: an OSError goes to HandleError.</summary>
    /// <returns>Bytes sent (0: the file ended), <see cref="Dispatcher.WouldBlock"/>, a negative value after HandleError or HandleClose, or <see cref="Dispatcher.FileNotSendable"/>.</returns>
    private int SendFileGuarded(FileRegion region, int count)
    {
        try
        {
            return SocketSendFileRaw(region.File!, region.Position, count);
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            AsyncoreMetrics.Failures.Add(1);
            HandleError(e);
            return -1;
        }
    }

    /// <summary>
    /// The file ended before the region did (it shrank while it was sent): the peer was promised more
    /// bytes than will come, so the channel closes, as nginx closes on "file was truncated"; the bytes
    /// sent are logged and given to the region's callback.
    /// </summary>
    private void RegionCameUpShort(FileRegion region)
    {
        _fifo.DequeueFront();
        region.End(shortFile: true);
        LogInfo($"file came up short: {region.Transferred} of {region.Count} bytes of the region sent; closing", "warning");
        _flushPending = false; // nothing queued behind it goes out after a short body
        Close();
    }
}
