using System.CommandLine;
using System.CommandLine.Invocation;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Asyncore;

namespace Asyncore.Samples;

/// <summary>
/// What every sample program shares: the --host/--port options, a listen step that turns a port
/// already taken or not permitted into one line on standard error and exit code 1, and a loop that
/// runs until Ctrl+C or SIGTERM, then closes every channel.
/// </summary>
internal static class SampleHost
{
    /// <summary>The exit code of a server that could not listen.</summary>
    public const int CannotListen = 1;

    /// <summary>--host, 127.0.0.1 by default: the samples listen on loopback unless told otherwise.</summary>
    public static Option<IPAddress> HostOption() =>
        new("--host")
        {
            Description = "Address to listen on (0.0.0.0 or :: for every interface)",
            DefaultValueFactory = _ => IPAddress.Loopback,
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Empty;
                if (IPAddress.TryParse(text, out IPAddress? address))
                {
                    return address;
                }

                result.AddError($"--host: not an IP address: '{text}'");
                return null;
            },
        };

    /// <summary>--port with the sample's default.</summary>
    public static Option<int> PortOption(int defaultPort, string description = "Port to listen on (0: any free port)")
    {
        var option = new Option<int>("--port") { Description = description, DefaultValueFactory = _ => defaultPort };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < IPEndPoint.MinPort or > IPEndPoint.MaxPort)
            {
                result.AddError($"--port: must be between {IPEndPoint.MinPort} and {IPEndPoint.MaxPort}");
            }
        });
        return option;
    }

    /// <summary>The address the two options name.</summary>
    public static IPEndPoint EndPoint(ParseResult result, Option<IPAddress> host, Option<int> port) =>
        new(result.GetValue(host)!, result.GetValue(port));

    /// <summary>
    /// Makes the listening channel. When the socket cannot be bound (the port is taken, a port below
    /// 1024 without the right to it, an address this machine does not have), says so in one line on
    /// standard error and returns null; the program then exits with <see cref="CannotListen"/>.
    /// </summary>
    public static T? Listen<T>(IPEndPoint at, Func<IPEndPoint, T> create)
        where T : class
    {
        try
        {
            return create(at);
        }
        catch (SocketException e)
        {
            Console.Error.WriteLine($"{AppDomain.CurrentDomain.FriendlyName}: cannot listen on {Show(at)}: {Reason(e)}");
            return null;
        }
    }

    /// <summary>Parses the command line and runs the command; a mistake on the command line is reported in a line, without the whole help text.</summary>
    public static int Invoke(RootCommand command, string[] args)
    {
        ParseResult result = command.Parse(args);
        if (result.Action is ParseErrorAction errors)
        {
            errors.ShowHelp = false;
            errors.ShowTypoCorrections = true;
        }

        return result.Invoke();
    }

    /// <summary>An address as a user types it back: 127.0.0.1:8080, [::1]:8080.</summary>
    public static string Show(IPEndPoint at) =>
        at.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{at.Address}]:{at.Port}" : at.ToString();

    private static string Reason(SocketException e) => e.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "the port is already in use (choose another with --port)",
        SocketError.AccessDenied => "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE; choose another with --port)",
        SocketError.AddressNotAvailable => "this machine has no such address (see --host)",
        SocketError.AddressFamilyNotSupported => "this machine does not support that address family (see --host)",
        _ => e.Message,
    };

    /// <summary>
    /// Runs the default map's loop until Ctrl+C or SIGTERM, then closes every channel. First raises
    /// the open-file limit as far as the process may (the library never does that by itself), and
    /// says so on standard error only when it stays too low for many connections.
    /// </summary>
    public static int RunUntilStopped()
    {
        long files = FileLimit.Raise();
        if (files is >= 0 and < FileLimit.LowLimit)
        {
            Console.Error.WriteLine($"{AppDomain.CurrentDomain.FriendlyName}: this process may open only {files} descriptors, so it holds fewer than {files} connections; raise the hard limit (ulimit -Hn) to hold more");
        }

        // The signal handlers only set a flag; the loop stays single-threaded and checks it between passes.
        bool stop = false;
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx =>
        {
            ctx.Cancel = true;
            Volatile.Write(ref stop, true);
        });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            Volatile.Write(ref stop, true);
        });
        while (!Volatile.Read(ref stop))
        {
            EventLoop.Loop(PollerKind.Default, timeout: 0.2, count: 1);
        }

        EventLoop.CloseAll(ignoreAll: true);
        return 0;
    }
}
