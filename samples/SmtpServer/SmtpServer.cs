using System.Net;
using System.Net.Sockets;
using Asyncore;

namespace Asyncore.Samples.Smtp;

/// <summary>Listens and makes an <see cref="SmtpChannel"/> per connection; messages go to <see cref="Store"/>.</summary>
public sealed class SmtpServer : Dispatcher
{
    public SmtpServer(EndPoint address, IMessageStore store, SmtpServerOptions? options = null, SocketMap? map = null)
        : base(null, map)
    {
        Store = store;
        Options = options ?? new SmtpServerOptions();
        CreateSocket(address.AddressFamily);
        SetReuseAddr();
        Bind(address);
        Listen(128);
    }

    public IMessageStore Store { get; }

    public SmtpServerOptions Options { get; }

    public EndPoint Address => Socket!.LocalEndPoint!;

    protected override void HandleAccepted(Socket socket, EndPoint address) => _ = new SmtpChannel(this, socket, address, Map);
}
