using Asyncore;

namespace Asyncore.Samples.Http;

/// <summary>
/// Answers in order while one is still being made off the loop thread (a folder listing): its place
/// is held (<see cref="Hold"/>), and the answers to requests pipelined behind it are queued here,
/// copied, instead of being pushed, until it is ready (<see cref="CompleteHeld"/>); then everything goes
/// out in the order the requests came. Without a held answer, <see cref="Emit(ReadOnlySpan{byte})"/>
/// is a plain push and allocates nothing. What is queued here counts against the output limit.
/// </summary>
public sealed partial class HttpRequestHandler
{
    private List<Queued>? _queued;
    private long _queuedBytes;
    private bool _peerEnded; // the client half-closed while an answer was held: close once everything is sent
    private bool _closeAfterAnswers;

    /// <summary>
    /// The client closed its side. With an answer still held (nothing queued in the channel yet, so
    /// the library would close at once), the connection stays to send it, and everything behind it,
    /// and closes after that: a client that half-closes after its requests still gets its answers.
    /// </summary>
    protected override void HandleClose()
    {
        if (Holding && Fileno >= 0)
        {
            _peerEnded = true;
            return;
        }

        base.HandleClose();
    }

    /// <summary>Whether answers wait behind one being made.</summary>
    private bool Holding => _queued is { Count: > 0 };

    /// <summary>Bytes of an answer, in order.</summary>
    internal void Emit(ReadOnlySpan<byte> bytes)
    {
        if (!Holding)
        {
            Push(bytes);
            return;
        }

        Enqueue(new Queued { Bytes = bytes.ToArray() }, bytes.Length);
    }

    /// <summary>An answer's body producer, in order.</summary>
    internal void EmitProducer(IProducer producer)
    {
        if (!Holding)
        {
            PushWithProducer(producer);
            return;
        }

        Enqueue(new Queued { Producer = producer }, 0);
    }

    /// <summary><see cref="AsyncChat.CloseWhenDone"/>, in order: after the answers before it.</summary>
    private void EmitCloseWhenDone()
    {
        if (!Holding)
        {
            CloseWhenDone();
            return;
        }

        Enqueue(new Queued { CloseWhenDone = true }, 0);
    }

    /// <summary>
    /// Holds the place of the current request's answer, which <see cref="CompleteHeld"/> gives later; the
    /// request's access log fields and what its answer must say (HEAD, Connection) are kept with it.
    /// </summary>
    internal HeldAnswer Hold()
    {
        ref readonly RequestHead h = ref _parser.Head;
        var answer = new HeldAnswer(IsHead, Persistence, _parser[h.Line].ToArray(), _parser[h.Referer].ToArray(), _parser[h.UserAgent].ToArray());
        (_queued ??= []).Add(new Queued { Held = answer });
        return answer;
    }

    /// <summary>
    /// The held answer is ready: 200 with <paramref name="page"/> (HTML), or 403 when it is null;
    /// it goes out with every answer queued behind it, up to the next one still held.
    /// </summary>
    internal void CompleteHeld(HeldAnswer answer, byte[]? page)
    {
        if (Fileno < 0 || _queued is null)
        {
            return;
        }

        int status = page is null ? 403 : 200;
        string detail = "the folder cannot be read";
        long length = page?.Length ?? ResponseWriter.TextLength(status, detail);
        var head = new ResponseHead(status);
        head.Field("Content-Type: "u8, page is null ? "text/plain; charset=utf-8"u8 : "text/html; charset=utf-8"u8);
        head.Field("Content-Length: "u8, length);
        head.End(answer.Persistence);
        answer.Head = head.Written.ToArray();
        if (!answer.IsHead)
        {
            answer.Body = page is null ? ResponseWriter.Text(status, detail) : page;
        }

        answer.Ready = true;
        if (!_options.Quiet)
        {
            AccessLog.Write(_options.Log, _host ??= AccessLog.Host(_addr), answer.Line, status, answer.IsHead ? 0 : length, answer.Referer, answer.UserAgent);
        }

        Flush();
    }

    /// <summary>Pushes the queued answers, in order, up to the first one still held.</summary>
    private void Flush()
    {
        List<Queued> queued = _queued!;
        int sent = 0;
        while (sent < queued.Count && Fileno >= 0)
        {
            Queued next = queued[sent];
            if (next.Held is { } held)
            {
                if (!held.Ready)
                {
                    break;
                }

                Push(held.Head);
                if (held.Body is { Length: > 0 } body)
                {
                    PushWithProducer(new SimpleProducer(body, FileRegion.BlockSize));
                }
            }
            else if (next.Bytes is { } bytes)
            {
                Push(bytes);
                _queuedBytes -= bytes.Length;
            }
            else if (next.Producer is { } producer)
            {
                PushWithProducer(producer);
            }
            else if (next.CloseWhenDone)
            {
                CloseAfterAnswers();
            }

            sent++;
        }

        if (Fileno >= 0)
        {
            queued.RemoveRange(0, sent);
            if (queued.Count == 0 && _peerEnded)
            {
                CloseAfterAnswers();
            }
        }
    }

    /// <summary>
    /// Closes once everything queued before now is sent. After the client's end of stream was taken
    /// (<see cref="HandleClose"/>) the library's close marker would not close any more (it notifies
    /// the close once per connection), so a producer at the end of the queue does it: the channel asks
    /// it for bytes only when everything before it went to the socket.
    /// </summary>
    private void CloseAfterAnswers()
    {
        if (!_peerEnded)
        {
            CloseWhenDone();
        }
        else if (!_closeAfterAnswers)
        {
            _closeAfterAnswers = true;
            PushWithProducer(new CloseWhenReached(this));
        }
    }

    private sealed class CloseWhenReached(HttpRequestHandler connection) : IProducer
    {
        public ReadOnlyMemory<byte> More()
        {
            connection.Map.CallLater(TimeSpan.Zero, connection.Close);
            return ReadOnlyMemory<byte>.Empty;
        }
    }

    private void Enqueue(Queued entry, long bytes)
    {
        _queued!.Add(entry);
        _queuedBytes += bytes;
        if (_queuedBytes > _options.OutputLimit)
        {
            Close(); // as a client past the output limit is: it pipelines far more than it reads
        }
    }

    /// <summary>Drops what was queued (the connection closed).</summary>
    private void DropQueued()
    {
        if (_queued is not null)
        {
            foreach (Queued q in _queued)
            {
                (q.Producer as FileRegion)?.Dispose(); // closes its use of the file, once
            }
        }

        _queued = null;
        _queuedBytes = 0;
    }

    /// <summary>One entry of the queue: bytes, a producer, the close marker, or a held answer.</summary>
    private sealed class Queued
    {
        public byte[]? Bytes;
        public IProducer? Producer;
        public bool CloseWhenDone;
        public HeldAnswer? Held;
    }
}

/// <summary>An answer whose place is held while it is made off the loop thread.</summary>
internal sealed class HeldAnswer(bool isHead, Persistence persistence, byte[] line, byte[] referer, byte[] userAgent)
{
    public bool IsHead { get; } = isHead;

    public Persistence Persistence { get; } = persistence;

    public byte[] Line { get; } = line;

    public byte[] Referer { get; } = referer;

    public byte[] UserAgent { get; } = userAgent;

    public bool Ready { get; set; }

    public byte[] Head { get; set; } = [];

    public byte[]? Body { get; set; }
}
