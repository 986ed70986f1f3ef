using System.Diagnostics;

namespace Asyncore.Tests.Tls;

/// <summary>Runs a command-line client (openssl, curl, python3) to its end, bounded in time.</summary>
internal static class Tool
{
    public static (int Code, string Out, string Err) Run(string file, IEnumerable<string> args, string? stdin = null, int timeoutMs = 30_000)
    {
        var psi = new ProcessStartInfo(file, args)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
        }

        p.StandardInput.Close();
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish in {timeoutMs} ms; stderr: {stderr.Result}");
        }

        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>python3 -c SCRIPT ARGS...; the script must exit 0.</summary>
    public static string Python(string script, params string[] args)
    {
        (int code, string output, string err) = Run("python3", ["-c", script, .. args]);
        Assert.True(code == 0, $"python3 exited {code}: {err}\n{output}");
        return output;
    }
}
