namespace Asyncore;

public abstract partial class AsyncChat
{
    /// <summary>
    /// At the switch to TLS: input received and not framed yet was sent in the clear behind the
    /// command that started TLS, so it is dropped, never framed (CVE-2011-0411, the STARTTLS command
    /// injection); what is queued for sending (the "go ahead" answer) still leaves in the clear, ahead
    /// of the first record. Producers queued before the switch are pulled after it and so encrypted.
    /// </summary>
    private protected override long TlsPlaintextOwed()
    {
        _framer.Discard();
        ResetMessage();
        _midMessage = false;
        return _fifo.QueuedBytes;
    }
}
