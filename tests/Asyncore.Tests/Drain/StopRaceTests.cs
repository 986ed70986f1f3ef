using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Asyncore.Tests.Support;
using Xunit.Abstractions;

namespace Asyncore.Tests.Drain;

/// <summary>
/// A sample server stopped by SIGTERM while clients connect in a tight loop, as a hostile tester
/// tries it: every connection the kernel completed is accepted and closed cleanly by the drain
/// (FIN), every later one is refused, and none is reset. The connections say nothing, so a clean
/// close can only be the drain's and a reset only a connection dropped from a listener's backlog.
/// </summary>
[Collection(ProcessWide.Name)] // alone: the race is about timing, and a loaded machine only hides it
public class StopRaceTests(ITestOutputHelper output)
{
    private sealed class Tally
    {
        public int Refused;
        public int RefusedLate;
        public int Clean;
        public int Reset;
        public int Answered;
        public int TimedOut;

        public override string ToString() =>
            $"refused {Refused} ({RefusedLate} after a SYN retransmission), closed cleanly {Clean}, answered {Answered}, reset {Reset}, connect timed out {TimedOut}";
    }

    /// <summary>Connects until it was refused 50 times in a row after the signal, keeping every connection it got.</summary>
    private static void Hammer(IPEndPoint at, Func<bool> signalled, List<Socket> kept, Tally tally, CountdownEvent warmedUp)
    {
        int refusedInARow = 0;
        bool counted = false;
        for (int attempt = 0; attempt < 6000; attempt++)
        {
            if (!counted && kept.Count >= 100)
            {
                warmedUp.Signal();
                counted = true;
            }

            if (signalled() && refusedInARow >= 50)
            {
                break;
            }

            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            long started = Environment.TickCount64;
            try
            {
                using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                s.ConnectAsync(at, cancel.Token).AsTask().GetAwaiter().GetResult();
                if (s.LocalEndPoint is IPEndPoint local && local.Port == at.Port)
                {
                    // TCP's self-connect: with nothing listening on the port any more, the kernel chose
                    // that same port as this socket's own, and the socket connected to itself. Nobody
                    // accepted it; it is a refusal in all but name.
                    throw new SocketException((int)SocketError.ConnectionRefused);
                }

                refusedInARow = 0;
                kept.Add(s);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                s.Dispose();
                Interlocked.Increment(ref tally.Refused);
                if (Environment.TickCount64 - started >= 500)
                {
                    Interlocked.Increment(ref tally.RefusedLate);
                }

                refusedInARow++;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                s.Dispose();
                Interlocked.Increment(ref tally.Reset);
            }
            catch (OperationCanceledException)
            {
                s.Dispose();
                Interlocked.Increment(ref tally.TimedOut);
            }
        }

        if (!counted)
        {
            warmedUp.Signal();
        }
    }

    /// <summary>After the server exited: what each kept connection ended with.</summary>
    private static void Classify(IEnumerable<Socket> kept, Tally tally)
    {
        var buffer = new byte[64];
        foreach (Socket s in kept)
        {
            using (s)
            {
                s.ReceiveTimeout = 5_000;
                try
                {
                    if (s.Receive(buffer) == 0)
                    {
                        tally.Clean++;
                    }
                    else
                    {
                        tally.Answered++;
                    }
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
                {
                    tally.Reset++;
                }
            }
        }
    }

    private static Tally StopWhileConnecting(string program, params string[] args)
    {
        var tally = new Tally();
        using var server = SampleProcess.StartServer(program, out IPEndPoint at, args);
        bool signalled = false;
        const int Clients = 2;
        var kept = new List<Socket>[Clients];
        using var warmedUp = new CountdownEvent(Clients);
        var threads = new Thread[Clients];
        for (int i = 0; i < Clients; i++)
        {
            var mine = kept[i] = new List<Socket>();
            threads[i] = new Thread(() => Hammer(at, () => Volatile.Read(ref signalled), mine, tally, warmedUp)) { IsBackground = true };
            threads[i].Start();
        }

        Assert.True(warmedUp.Wait(TimeSpan.FromSeconds(30)), "the clients did not get going");
        server.Terminate();
        Volatile.Write(ref signalled, true);
        Assert.Equal(0, server.WaitForExit(TimeSpan.FromSeconds(30)));
        foreach (Thread t in threads)
        {
            Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a client did not finish");
        }

        Classify(kept.SelectMany(k => k), tally);
        return tally;
    }

    [Theory]
    [InlineData("PingServer", "2")]
    [InlineData("PingServer", "1")]
    [InlineData("HttpServer", "2")]
    public void ConnectionsAroundSigtermAreAcceptedOrRefusedNeverReset(string program, string loops)
    {
        string[] args = program == "HttpServer" ? ["--loops", loops, "--quiet"] : ["--loops", loops];
        var stopwatch = Stopwatch.StartNew();
        var rounds = new List<Tally>();
        for (int round = 0; round < 4; round++)
        {
            Tally tally = StopWhileConnecting(program, args);
            rounds.Add(tally);
            output.WriteLine($"{program} --loops {loops}, round {round + 1}: {tally}");
            Assert.True(tally.Reset == 0, $"round {round + 1}: {tally}");
            Assert.True(tally.TimedOut == 0, $"round {round + 1}: {tally}");
            Assert.True(tally.Refused > 0 && tally.Clean > 0, $"round {round + 1}: the connections did not straddle the stop: {tally}");
        }

        Assert.True(stopwatch.Elapsed < TimeSpan.FromMinutes(2), $"took {stopwatch.Elapsed}");
    }
}
