using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using System.Numerics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Asyncore;

namespace Asyncore.Samples;

/// <summary>
/// What every sample program shares: the --host/--port/--drain-timeout (and --loops) options, a
/// command line whose every mistake is one line on standard error and exit code 2, a listen step
/// that turns a port already taken or not permitted into one line on standard error and exit code 1,
/// and a loop (or a group of loops) that runs until Ctrl+C or SIGTERM, then drains: stops accepting
/// at once, lets every connection finish, and exits.
/// </summary>
internal static class SampleHost
{
    /// <summary>The exit code of a server that could not listen.</summary>
    public const int CannotListen = 1;

    /// <summary>The exit code of a mistake on the command line (System.CommandLine's convention, and the shells' for a misused builtin).</summary>
    public const int BadCommandLine = 2;

    /// <summary>
    /// How many connections a sample server is meant to hold at once (Redis's default <c>maxclients</c>):
    /// the open-file limit is enough when it leaves a descriptor for each, plus <see cref="ReservedDescriptors"/>.
    /// </summary>
    public const int Connections = 10_000;

    /// <summary>Descriptors a server needs besides its connections: listeners, the loop's own, files, the runtime's (Redis reserves 32).</summary>
    public const int ReservedDescriptors = 32;

    /// <summary>The program's name, as every line it writes on standard error starts.</summary>
    public static string Name => AppDomain.CurrentDomain.FriendlyName;

    /// <summary>Writes "NAME: <paramref name="message"/>" on standard error and returns <see cref="BadCommandLine"/>.</summary>
    public static int SayBadCommandLine(string message)
    {
        Console.Error.WriteLine($"{Name}: {message}");
        return BadCommandLine;
    }

    /// <summary>
    /// An option whose value is a number from <paramref name="min"/> to <paramref name="max"/>, read with
    /// the invariant culture; text that is not such a number is a command-line mistake (one line, exit code 2).
    /// </summary>
    public static Option<T> NumberOption<T>(string name, string description, T defaultValue, T min, T max)
        where T : struct, INumber<T>, IMinMaxValue<T>
    {
        bool whole = typeof(T) != typeof(double) && typeof(T) != typeof(float);
        return new Option<T>(name)
        {
            Description = description,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Empty;
                if (!T.TryParse(text, whole ? NumberStyles.Integer : NumberStyles.Float, CultureInfo.InvariantCulture, out T value) || T.IsNaN(value))
                {
                    result.AddError($"{name}: not {(whole ? "a whole number" : "a number")}: '{text}'");
                    return defaultValue;
                }

                if (value < min || value > max)
                {
                    result.AddError(max == T.MaxValue
                        ? $"{name}: must be {min.ToString(null, CultureInfo.InvariantCulture)} or more"
                        : $"{name}: must be between {min.ToString(null, CultureInfo.InvariantCulture)} and {max.ToString(null, CultureInfo.InvariantCulture)}");
                    return defaultValue;
                }

                return value;
            },
        };
    }

    /// <summary>An option whose value is an IP address; anything else is a command-line mistake.</summary>
    public static Option<IPAddress> AddressOption(string name, string description) =>
        new(name)
        {
            Description = description,
            DefaultValueFactory = _ => IPAddress.Loopback,
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Empty;
                if (IPAddress.TryParse(text, out IPAddress? address))
                {
                    return address;
                }

                result.AddError($"{name}: not an IP address: '{text}'");
                return null;
            },
        };

    /// <summary>--host, 127.0.0.1 by default: the samples listen on loopback unless told otherwise.</summary>
    public static Option<IPAddress> HostOption() =>
        AddressOption("--host", "Address to listen on (0.0.0.0 or :: for every interface)");

    /// <summary>--port with the sample's default.</summary>
    public static Option<int> PortOption(int defaultPort, string description = "Port to listen on (0: any free port)") =>
        NumberOption("--port", description, defaultPort, IPEndPoint.MinPort, IPEndPoint.MaxPort);

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
            SayCannotListen(at, e);
            return null;
        }
    }

    /// <summary>
    /// Parses the command line and runs the command. Mistakes on the command line (an unknown option,
    /// a value that is not a number or out of range, a missing value) are one line on standard error,
    /// "NAME: what is wrong", without the help text, and exit code <see cref="BadCommandLine"/>.
    /// </summary>
    public static int Invoke(RootCommand command, string[] args)
    {
        ParseResult result = command.Parse(args);
        if (result.Errors.Count > 0)
        {
            return SayBadCommandLine(string.Join("; ", result.Errors.Select(e => OneLine(e.Message)).Distinct()) + $" (see {Name} --help)");
        }

        return result.Invoke();
    }

    private static string OneLine(string text) =>
        string.Join(' ', text.Split((char[])['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

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

    /// <summary>--drain-timeout, 30 s by default: how long a stopping server lets its connections finish.</summary>
    public static Option<double> DrainTimeoutOption() =>
        NumberOption<double>(
            "--drain-timeout",
            "On SIGTERM or Ctrl+C, seconds to let connections finish their requests before the rest is closed (a second signal stops at once)",
            30,
            0,
            86400);

    /// <summary>--loops, the number of processors by default: how many event loops (threads) serve.</summary>
    public static Option<int> LoopsOption() =>
        NumberOption(
            "--loops",
            "Event loops, one thread each, each with its own listening socket on the port (SO_REUSEPORT; the kernel spreads connections)",
            Environment.ProcessorCount,
            1,
            1024);

    /// <summary>--poller, the library's default (epoll on Linux) unless told: which readiness backend every loop uses.</summary>
    public static Option<PollerKind> PollerOption()
    {
        var option = new Option<PollerKind>("--poller")
        {
            Description = "Readiness backend (default: the library's default, epoll on Linux); io_uring falls back to epoll, with one line on standard error, where the kernel refuses it",
            HelpName = "default|epoll|poll|select|io_uring",
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Empty;
                switch (text.ToLowerInvariant())
                {
                    case "default": return PollerKind.Default;
                    case "epoll": return PollerKind.Epoll;
                    case "poll": return PollerKind.Poll;
                    case "select": return PollerKind.Select;
                    case "io_uring": return PollerKind.IoUring;
                    default:
                        result.AddError($"--poller: not a backend: '{text}' (default, epoll, poll, select, io_uring)");
                        return PollerKind.Default;
                }
            },
        };
        return option;
    }

    /// <summary>The drain timeout the option names.</summary>
    public static TimeSpan DrainTimeout(ParseResult result, Option<double> option) => TimeSpan.FromSeconds(result.GetValue(option));

    /// <summary>
    /// Runs the default map's loop until Ctrl+C or SIGTERM, then drains it (<see cref="EventLoop.Drain"/>):
    /// the listeners take no new connection at once and close once they accepted those already waiting
    /// (none is reset; later ones are refused), each connection finishes what it received and says goodbye its
    /// protocol's way (<see cref="Dispatcher.HandleDrain"/>), idle ones close at once, and whatever
    /// is left after <paramref name="drainTimeout"/> is closed; a second signal closes everything
    /// at once. First raises the open-file limit as far as the process may (the library never does
    /// that by itself), and says so on standard error only when it stays too low for <see cref="Connections"/> connections.
    /// </summary>
    /// <param name="drainTimeout">How long connections may take to finish after the signal.</param>
    /// <param name="started">Runs once the signals are caught, before the loop (to print where the server listens): a SIGTERM sent as soon as that line is read drains the server rather than killing it.</param>
    /// <returns>0: a stop asked for is a normal end, even when the drain timeout closed connections.</returns>
    public static int RunUntilStopped(TimeSpan drainTimeout, Action started)
    {
        SocketMap map = SocketMap.Default;

        // The signal handlers only set a flag and wake the loop; the loop stays single-threaded.
        using var signals = new StopSignals(
            first: () => map.Post(static () => { }),
            second: () => map.Post(static () => throw new ExitNowException()));
        RaiseFileLimit();
        started();
        while (!signals.Stopping)
        {
            EventLoop.Loop(PollerKind.Default, timeout: 0.2, count: 1);
        }

        try
        {
            if (!EventLoop.Drain(drainTimeout, map))
            {
                SayDrainTimedOut(drainTimeout);
            }
        }
        catch (ExitNowException)
        {
            // a second signal: stop at once
        }

        EventLoop.CloseAll(map, ignoreAll: true);
        return 0;
    }

    /// <summary>
    /// Runs <paramref name="loops"/> event loops (a <see cref="LoopGroup"/>), each with its own
    /// listening channel made by <paramref name="listen"/> on <paramref name="at"/>, until Ctrl+C or
    /// SIGTERM; then drains every loop as <see cref="RunUntilStopped"/> does. With more than one
    /// loop the listeners share the port with SO_REUSEPORT (the kernel spreads new connections over
    /// them); before that the port is tried once without it, so a port another program (or another
    /// copy of this one) holds is still reported as taken rather than shared.
    /// </summary>
    /// <param name="at">Where to listen (port 0: a free port, the same for every loop).</param>
    /// <param name="loops">How many loops.</param>
    /// <param name="listen">Makes one loop's listener: the address, the loop's map, and whether to set SO_REUSEPORT before binding.</param>
    /// <param name="started">Runs once every loop listens, with loop 0's listener (to print where it listens).</param>
    /// <param name="drainTimeout">How long connections may take to finish after the signal.</param>
    /// <param name="accepted">How many connections a listener accepted: printed per loop once the loops stopped.</param>
    /// <param name="backend">The readiness backend every loop uses.</param>
    /// <returns>0 after a stop; <see cref="CannotListen"/> when a listener could not be bound.</returns>
    public static int RunLoopsUntilStopped<T>(IPEndPoint at, int loops, Func<IPEndPoint, SocketMap, bool, T> listen, Action<T> started, TimeSpan drainTimeout, Func<T, int> accepted, PollerKind backend = PollerKind.Default)
        where T : Dispatcher
    {
        bool reusePort = loops > 1;
        if (reusePort)
        {
            try
            {
                using var probe = new Socket(at.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                if (OperatingSystem.IsLinux())
                {
                    // SO_REUSEADDR alone (as Dispatcher.SetReuseAddr sets it): .NET's ReuseAddress also sets SO_REUSEPORT there, which would share the port.
                    probe.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
                }
                else
                {
                    probe.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                }
                probe.Bind(at);
                at = new IPEndPoint(at.Address, ((IPEndPoint)probe.LocalEndPoint!).Port);
            }
            catch (SocketException e)
            {
                SayCannotListen(at, e);
                return CannotListen;
            }
        }

        RaiseFileLimit();
        using var signals = new StopSignals(first: null, second: null);
        var listeners = new T[loops];
        using var group = new LoopGroup(loops, (map, i) => listeners[i] = listen(at, map, reusePort), backend);
        try
        {
            group.Start();
        }
        catch (InvalidOperationException e) when (e.InnerException is SocketException s)
        {
            SayCannotListen(at, s);
            return CannotListen;
        }

        started(listeners[0]);
        signals.First.Wait();
        Task<bool> drained = group.DrainAsync(drainTimeout);
        if (Task.WaitAny(drained, signals.Second) == 0 && !drained.Result)
        {
            SayDrainTimedOut(drainTimeout);
        }

        group.Stop();
        Console.WriteLine($"stopped; connections accepted per loop: {string.Join(", ", listeners.Select(accepted))}");
        return 0;
    }

    private static void SayCannotListen(IPEndPoint at, SocketException e) =>
        Console.Error.WriteLine($"{Name}: cannot listen on {Show(at)}: {Reason(e)}");

    private static void SayDrainTimedOut(TimeSpan drainTimeout) =>
        Console.Error.WriteLine($"{Name}: connections still open after the drain timeout ({drainTimeout.TotalSeconds:0.###} s) were closed");

    /// <summary>
    /// Raises the open-file limit as far as the process may (<see cref="FileLimit.Raise()"/>) and, only
    /// when what it reaches is too low for <see cref="Connections"/> connections, says so in one line
    /// on standard error (as Redis does for <c>maxclients</c>; a program with a logger calls <see cref="FileLimit.Raise(Microsoft.Extensions.Logging.ILogger?, long)"/>). A limit of 20,000 is plenty; the library's
    /// <see cref="FileLimit.LowLimit"/> (65,536) is not the measure here.
    /// </summary>
    private static void RaiseFileLimit()
    {
        long files = FileLimit.Raise();
        const long needed = Connections + ReservedDescriptors;
        if (files is >= 0 and < needed)
        {
            Console.Error.WriteLine($"{Name}: this process may open only {files} descriptors, fewer than the {needed} that {Connections} connections need, so it holds about {Math.Max(0, files - ReservedDescriptors)}; raise the hard limit (ulimit -Hn {needed}) to hold more");
        }
    }

    /// <summary>SIGINT and SIGTERM, counted: the first asks for a drain, a second for a stop at once.</summary>
    private sealed class StopSignals : IDisposable
    {
        private readonly PosixSignalRegistration _sigint;
        private readonly PosixSignalRegistration _sigterm;
        private readonly Action? _first;
        private readonly Action? _second;
        private readonly TaskCompletionSource _secondSignal = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _count;

        public StopSignals(Action? first, Action? second)
        {
            _first = first;
            _second = second;
            _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle);
            _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle);
        }

        /// <summary>Set by the first signal.</summary>
        public ManualResetEventSlim First { get; } = new();

        /// <summary>Completes at the second signal.</summary>
        public Task Second => _secondSignal.Task;

        public bool Stopping => First.IsSet;

        private void Handle(PosixSignalContext context)
        {
            context.Cancel = true;
            if (Interlocked.Increment(ref _count) == 1)
            {
                First.Set();
                _first?.Invoke();
            }
            else
            {
                _secondSignal.TrySetResult();
                _second?.Invoke();
            }
        }

        public void Dispose()
        {
            _sigint.Dispose();
            _sigterm.Dispose();
            First.Dispose();
        }
    }
}
