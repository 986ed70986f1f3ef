using System.Diagnostics;

namespace Soak;

/// <summary>
/// Child processes of this same program. Each child gets a pipe as standard input and stops when it
/// reads end of file: the driver ending in any way (even SIGKILL) closes the pipe, so no child
/// outlives it. The driver also kills what is still running when it exits.
/// </summary>
static class Children
{
    private static readonly List<Process> s_running = new();

    static Children()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
    }

    /// <summary>In a child: calls <paramref name="stop"/> once standard input ends.</summary>
    public static void OnStdinEof(Action stop)
    {
        var reader = new Thread(() =>
        {
            using Stream stdin = Console.OpenStandardInput();
            byte[] buffer = new byte[64];
            while (stdin.Read(buffer) > 0)
            {
            }

            stop();
        })
        {
            IsBackground = true,
            Name = "stdin watch",
        };
        reader.Start();
    }

    /// <summary>
    /// Starts this program with <paramref name="args"/>, on CPU <paramref name="cpu"/> through
    /// taskset when asked (set before exec, so every thread of the child inherits it).
    /// </summary>
    public static Process Start(IEnumerable<string> args, int? cpu, Action<string> onLine)
    {
        string self = Environment.ProcessPath!;
        var psi = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (cpu is { } c)
        {
            psi.FileName = "taskset";
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(c.ToString(System.Globalization.CultureInfo.InvariantCulture));
            psi.ArgumentList.Add(self);
        }
        else
        {
            psi.FileName = self;
        }

        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            psi.ArgumentList.Add(typeof(Children).Assembly.Location); // run through the host: name the assembly
        }

        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) onLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) onLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (s_running)
        {
            s_running.Add(process);
        }

        return process;
    }

    /// <summary>Waits up to <paramref name="limit"/> for the child to exit, kills it otherwise; true when it exited by itself.</summary>
    public static bool WaitOrKill(Process process, TimeSpan limit)
    {
        bool exited = process.WaitForExit(limit);
        if (!exited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(TimeSpan.FromSeconds(10));
        }
        else
        {
            process.WaitForExit(); // the output readers drain
        }

        lock (s_running)
        {
            s_running.Remove(process);
        }

        return exited;
    }

    public static void KillAll()
    {
        lock (s_running)
        {
            foreach (Process p in s_running)
            {
                try
                {
                    if (!p.HasExited)
                    {
                        p.Kill(entireProcessTree: true);
                    }
                }
                catch (InvalidOperationException)
                {
                }
            }

            s_running.Clear();
        }
    }
}
