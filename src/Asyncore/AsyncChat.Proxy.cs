using System.Net;
using Asyncore.Proxy;
using Asyncore.Reactor;

namespace Asyncore;

public abstract partial class AsyncChat
{
    private ProxyHeaderParser? _proxy;
    private Deadline? _proxyDeadline;

    /// <summary>
    /// Requires a PROXY protocol header (version 1 or 2, HAProxy's proxy-protocol.txt) as the
    /// connection's first bytes, before the framer sees anything: the step a server behind HAProxy,
    /// nginx stream or a cloud load balancer with <c>send-proxy</c> takes. Once the header is complete,
    /// <see cref="ProxyHeader"/>, <see cref="ProxiedSource"/> and <see cref="ProxiedDestination"/> are
    /// set, <see cref="Dispatcher.Addr"/> reports the carried source, <see cref="HandleProxyHeader"/>
    /// runs, and the bytes after the header go to the framer. A connection whose first bytes are not a
    /// valid header, or whose header is not complete within <paramref name="timeout"/>, is closed
    /// without an answer (<see cref="HandleProxyHeaderFailed"/> says why first).
    /// </summary>
    /// <param name="timeout">How long the whole header may take to arrive, from now.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive.</exception>
    /// <exception cref="InvalidOperationException">Input was already read on this connection.</exception>
    /// <remarks>Call it on the loop's thread before the first read, typically in the channel's constructor.</remarks>
    public void RequireProxyHeader(TimeSpan timeout) => RequireProxyHeader(timeout, trustedSenders: null);

    /// <summary>
    /// <see cref="RequireProxyHeader(TimeSpan)"/>, from trusted senders only: a connection whose own
    /// peer is not in one of <paramref name="trustedSenders"/> is closed without an answer at once
    /// (<see cref="HandleProxyHeaderFailed"/> says so), whatever it would claim, as nginx's
    /// <c>set_real_ip_from</c> names the proxies whose headers it believes. Without the list (or
    /// with the first overload), any client that reaches the port can claim any address: then the
    /// port must be reachable from the proxies alone (a firewall, a private interface).
    /// </summary>
    /// <param name="timeout">How long the whole header may take to arrive, from now.</param>
    /// <param name="trustedSenders">The networks the proxies connect from (for example 10.0.0.0/8); null trusts every sender. A peer over a Unix domain socket is trusted (the socket's file permissions say who may connect).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive.</exception>
    /// <exception cref="InvalidOperationException">Input was already read on this connection.</exception>
    public void RequireProxyHeader(TimeSpan timeout, IReadOnlyList<IPNetwork>? trustedSenders)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        if (_framer.Buffered > 0 || _reading)
        {
            throw new InvalidOperationException("a PROXY header must be required before the connection's first read");
        }

        _proxy = new ProxyHeaderParser();
        ProxyHeader = null;
        _proxyUntrusted = trustedSenders is not null && Addr is IPEndPoint peer && !Trusted(trustedSenders, peer.Address) ? peer : null;
        _proxyDeadline ??= new Deadline(() => Guard(ProxyHeaderTimedOut));
        // An untrusted sender is refused at the start of the next pass, after its constructor returned.
        _proxyDeadline.Set(Map.Reactor.Timers, _proxyUntrusted is null ? Deadline.After(Deadline.Now, timeout) : Deadline.Now);
    }

    private IPEndPoint? _proxyUntrusted;

    private static bool Trusted(IReadOnlyList<IPNetwork> networks, IPAddress address)
    {
        IPAddress plain = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (IPNetwork network in networks)
        {
            if (network.Contains(plain) || network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether a required PROXY header has not arrived yet.</summary>
    public bool AwaitingProxyHeader => _proxy is not null;

    /// <summary>The PROXY header the connection began with; null until it is complete, or when none was required.</summary>
    public ProxyHeader? ProxyHeader { get; private set; }

    /// <summary>The client's address carried by the PROXY header; null without one, or for LOCAL, UNKNOWN and AF_UNSPEC headers (the connection's own peer is the client then).</summary>
    public EndPoint? ProxiedSource => ProxyHeader is { HasAddresses: true } h ? h.Source : null;

    /// <summary>The address the client connected to, carried by the PROXY header; null as for <see cref="ProxiedSource"/>.</summary>
    public EndPoint? ProxiedDestination => ProxyHeader is { HasAddresses: true } h ? h.Destination : null;

    /// <summary>
    /// Called once the required PROXY header is complete, before the bytes after it are framed
    /// (a new terminator set here applies to them). <see cref="Dispatcher.Addr"/> already reports the
    /// carried source. The default does nothing.
    /// </summary>
    /// <param name="header">The header.</param>
    protected virtual void HandleProxyHeader(ProxyHeader header)
    {
    }

    /// <summary>
    /// Called when the required PROXY header is invalid or did not arrive in time, just before the
    /// channel closes without an answer. The default does nothing.
    /// </summary>
    /// <param name="reason">Why (the parser's error, or a timeout).</param>
    protected virtual void HandleProxyHeaderFailed(string reason)
    {
    }

    /// <summary>Feeds the unread bytes to the PROXY parser; true when the header is complete and the channel still open, so the rest may be framed.</summary>
    private bool TakeProxyHeader()
    {
        ProxyHeaderParser parser = _proxy!;
        if (_proxyUntrusted is { } untrusted)
        {
            ProxyHeaderRejected($"PROXY header from {untrusted.Address}, which is not a trusted sender");
            return false;
        }

        ProxyParseStatus status = parser.Feed(_framer.Unread, out int consumed);
        _framer.Skip(consumed);
        switch (status)
        {
            case ProxyParseStatus.NeedMore:
                return false;
            case ProxyParseStatus.Invalid:
                ProxyHeaderRejected(parser.Error!);
                return false;
        }

        _proxy = null;
        _proxyDeadline?.Clear();
        ProxyHeader header = parser.Header!;
        ProxyHeader = header;
        if (header.HasAddresses)
        {
            Addr = header.Source;
        }

        HandleProxyHeader(header);
        return Fileno >= 0;
    }

    private void ProxyHeaderTimedOut()
    {
        if (_proxy is not null)
        {
            ProxyHeaderRejected(_proxyUntrusted is { } untrusted ? $"PROXY header from {untrusted.Address}, which is not a trusted sender" : "no complete PROXY header in time");
        }
    }

    private void ProxyHeaderRejected(string reason)
    {
        _proxy = null;
        _proxyUntrusted = null;
        _proxyDeadline?.Clear();
        _framer.Discard();
        HandleProxyHeaderFailed(reason);
        Close();
    }
}
