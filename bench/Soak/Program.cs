using Soak;

// A soak test of the reactor: a line server per backend under connect-request-close churn with
// idle timeouts set, sampled every 10 s for live heap, RSS and open descriptors, with a thread
// measuring how long SocketMap.Post waits. bench/soak.sh runs it; see the top of that script.
//   Soak run    [--backends epoll,poll,select (io_uring too on request)] [--seconds 600] [--rate 1000] [--idle-timeout 5] [--warmup 60] [--sample 10] [--max-rss-mib 4096] [--out DIR] [--parallel] [--no-pin]
//   Soak server [--backend epoll] [--seconds 600] [--port 0] [--tsv FILE] [--idle-timeout 5] [--warmup 60] [--sample 10] [--post-every-ms 2] [--max-rss-mib 4096] [--grace 120] [--stdin-eof-stops]
//   Soak churn  --port N [--seconds 600] [--rate 1000] [--idle-timeout 5] [--idle 0.05] [--abort 0.05] [--hangup 0.05] [--max-in-flight 4096] [--stdin-eof-stops]
if (args.Length == 0 || args[0] is not ("run" or "server" or "churn"))
{
    Console.Error.WriteLine("usage: Soak run|server|churn [--option value ...] (see bench/soak.sh)");
    return 2;
}

try
{
    var options = new Options(args[1..]);
    return args[0] switch
    {
        "server" => ServerMode.Run(options),
        "churn" => ChurnMode.Run(options),
        _ => RunMode.Run(options, args[1..]),
    };
}
catch (Exception e) when (e is ArgumentException or FormatException)
{
    Console.Error.WriteLine($"Soak {args[0]}: {e.Message}");
    return 2;
}
