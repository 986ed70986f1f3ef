using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Asyncore;

// One loop holding N idle AsyncChat connections (default N = 1,000 / 10,000 / 50,000), plus one
// active one: managed memory per idle connection (server side: channel, Socket, buffers) and the
// cost of one epoll pass. The client ends live in child processes ("clients" mode) as raw libc
// descriptors, bound to 127.0.0.2.. so that many connections do not run out of ephemeral ports.
// A size the open-file limit cannot hold is reported and skipped.
//   dotnet run -c Release --project bench/Connections [-- 1000 10000 50000]
if (args.Length > 0 && args[0] == "clients")
{
    int port = int.Parse(args[1]), count = int.Parse(args[2]), first = int.Parse(args[3]);
    FileLimit.Raise();
    for (int i = 0; i < count; i++)
    {
        Raw.Connect(port, first + i / 20_000);
    }

    Console.WriteLine("connected");
    Console.In.ReadToEnd(); // hold them until the parent closes our standard input
    return 0;
}

int[] sizes = args.Length > 0 ? args.Select(int.Parse).ToArray() : [1_000, 10_000, 50_000];
long limit = FileLimit.Raise();
Console.WriteLine($"open-file limit: {limit}");

var map = new SocketMap();
var listener = new Listener(map);
var children = new List<Process>();
int connected = 0;
int active = Raw.Connect(listener.Port, 1);
Drive(map, () => listener.Accepted == 1);
var activeChannel = (Idle)listener.Channels[0];
activeChannel.KeepReadable = true;
Raw.Write(active, "x"u8);

Console.WriteLine("| idle connections | managed bytes per idle connection | one epoll pass (1 active) |");
Console.WriteLine("|---:|---:|---:|");
foreach (int n in sizes)
{
    if (limit >= 0 && n + 200 > limit)
    {
        Console.WriteLine($"| {n:N0} | not run: this process may open {limit} descriptors | |");
        continue;
    }

    long before = Managed();
    while (connected < n)
    {
        int batch = Math.Min(n - connected, 15_000);
        var psi = new ProcessStartInfo(Environment.ProcessPath!, [typeof(Listener).Assembly.Location, "clients", listener.Port.ToString(), batch.ToString(), (2 + children.Count).ToString()])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        };
        if (!Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal))
        {
            psi.ArgumentList.RemoveAt(0); // the apphost runs the assembly itself
        }

        Process child = Process.Start(psi)!;
        children.Add(child);
        int target = connected + batch + 1;
        Drive(map, () => listener.Accepted == target);
        connected += batch;
    }

    for (int i = 0; i < 20; i++)
    {
        EventLoop.Poll(PollerKind.Epoll, 0, map);
    }

    long after = Managed();
    // What this step added (since the previous size), per connection added.
    int previous = sizes.TakeWhile(s => s < n).LastOrDefault();
    double perConnection = (after - before) / (double)(n - previous);

    long reads = activeChannel.Reads;
    const int passes = 2000;
    var sw = Stopwatch.StartNew();
    for (int i = 0; i < passes; i++)
    {
        EventLoop.Poll(PollerKind.Epoll, 0, map);
    }

    double us = sw.Elapsed.TotalMicroseconds / passes;
    if (activeChannel.Reads - reads != passes)
    {
        throw new InvalidOperationException("the active channel was not read on every pass");
    }

    Console.WriteLine($"| {n:N0} | {perConnection:N0} | {us:N2} µs |");
}

foreach (Process child in children)
{
    child.StandardInput.Close();
    child.WaitForExit(10_000);
}

Raw.Close(active);
EventLoop.CloseAll(map, ignoreAll: true);
return 0;

static long Managed()
{
    GC.Collect();
    GC.WaitForPendingFinalizers();
    GC.Collect();
    return GC.GetTotalMemory(forceFullCollection: true);
}

static void Drive(SocketMap map, Func<bool> until)
{
    var sw = Stopwatch.StartNew();
    while (!until())
    {
        if (sw.Elapsed > TimeSpan.FromSeconds(60))
        {
            throw new TimeoutException("connections were not accepted in time");
        }

        EventLoop.Poll(PollerKind.Epoll, 0.01, map);
    }
}

sealed class Listener : Dispatcher
{
    public Listener(SocketMap map) : base(null, map)
    {
        CreateSocket();
        SetReuseAddr();
        Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Listen(4096);
    }

    public int Port => ((IPEndPoint)Socket!.LocalEndPoint!).Port;

    public int Accepted { get; private set; }

    public List<AsyncChat> Channels { get; } = new();

    protected override void HandleAccepted(Socket socket, EndPoint address)
    {
        Accepted++;
        var idle = new Idle(socket, Map);
        if (Channels.Count == 0)
        {
            Channels.Add(idle); // keep only the first (the active one); the rest live in the map
        }
    }
}

/// <summary>An idle line-protocol connection, as a server holds thousands of; the first one stays readable.</summary>
sealed class Idle : AsyncChat
{
    public Idle(Socket socket, SocketMap map) : base(socket, map) => SetTerminator("\r\n"u8);

    public bool KeepReadable { get; set; }

    public long Reads { get; private set; }

    protected override void HandleRead()
    {
        if (KeepReadable)
        {
            Reads++; // leave the byte unread: level-triggered, so the channel is ready on every pass
            return;
        }

        base.HandleRead();
    }

    protected override void CollectIncomingData(ReadOnlySpan<byte> data)
    {
    }

    protected override void FoundTerminator()
    {
    }
}

static partial class Raw
{
    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    private static unsafe partial int ConnectNative(int fd, byte* addr, int len);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    private static unsafe partial int Bind(int fd, byte* addr, int len);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint WriteNative(int fd, byte* buf, nint len);

    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    public static unsafe int Connect(int port, int hostByte)
    {
        int fd = Socket(2 /* AF_INET */, 1 /* SOCK_STREAM */, 0);
        if (fd < 0)
        {
            throw new IOException($"socket: errno {Marshal.GetLastPInvokeError()}");
        }

        byte* local = stackalloc byte[16];
        new Span<byte>(local, 16).Clear();
        local[0] = 2; // sin_family = AF_INET (little-endian short)
        local[4] = 127;
        local[7] = (byte)hostByte; // 127.0.0.N, port 0
        if (Bind(fd, local, 16) != 0)
        {
            throw new IOException($"bind: errno {Marshal.GetLastPInvokeError()}");
        }

        byte* remote = stackalloc byte[16];
        new Span<byte>(remote, 16).Clear();
        remote[0] = 2;
        remote[2] = (byte)(port >> 8);
        remote[3] = (byte)port;
        remote[4] = 127;
        remote[7] = 1;
        if (ConnectNative(fd, remote, 16) != 0)
        {
            throw new IOException($"connect: errno {Marshal.GetLastPInvokeError()}");
        }

        return fd;
    }

    public static unsafe void Write(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            WriteNative(fd, p, data.Length);
        }
    }
}
