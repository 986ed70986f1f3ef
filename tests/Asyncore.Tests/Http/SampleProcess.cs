using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Asyncore.Tests.Http;

/// <summary>A sample run as its own process on 127.0.0.1 and a free port, the way a user starts it; killed on dispose.</summary>
internal sealed partial class SampleProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    /// <param name="name">The sample's program name (its apphost sits next to the test assembly).</param>
    /// <param name="args">Its arguments (--port 0 is added).</param>
    /// <param name="dropFileCapabilities">When running as root, start it without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (setpriv), so file permissions apply to it.</param>
    public SampleProcess(string name, string[] args, bool dropFileCapabilities = false)
    {
        string program = Path.Combine(AppContext.BaseDirectory, name);
        string[] command = [program, "--port", "0", .. args];
        if (dropFileCapabilities && Environment.IsPrivilegedProcess)
        {
            command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", .. command];
        }

        var psi = new ProcessStartInfo(command[0], command[1..])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        Match? serving = null;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30) && !_process.HasExited)
        {
            serving = ServingLine().Match(Output);
            if (serving.Success)
            {
                break;
            }

            Thread.Sleep(20);
        }

        Assert.True(serving is { Success: true }, $"{name} did not start: {Output}");
        Url = serving!.Groups[1].Value;
    }

    /// <summary>The process id (setpriv runs the sample in its own process).</summary>
    public int Pid => _process.Id;

    /// <summary>http://127.0.0.1:port, without a trailing slash.</summary>
    public string Url { get; }

    /// <summary>Everything the process wrote so far (standard output and error).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Waits (up to 10 s) until the output contains <paramref name="text"/>, then returns the output.</summary>
    public string WaitFor(string text)
    {
        var clock = Stopwatch.StartNew();
        while (!Output.Contains(text, StringComparison.Ordinal) && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            Thread.Sleep(20);
        }

        return Output;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.WaitForExit(10_000);
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.Append(line).Append('\n');
            }
        }
    }

    [GeneratedRegex(@"Serving HTTP on (http://[0-9.]+:[0-9]+)/")]
    private static partial Regex ServingLine();
}
