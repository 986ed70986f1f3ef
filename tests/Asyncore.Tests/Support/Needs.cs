using System.Diagnostics;

namespace Asyncore.Tests.Support;

/// <summary>A program from outside .NET that some tests run as a peer or as an oracle.</summary>
public enum Outside
{
    /// <summary>python3 of any version, as a client (ssl, smtplib, mailbox, urllib).</summary>
    Python3,

    /// <summary>python3 that is CPython 3.11 with asyncore and asynchat (both left CPython in 3.12): the oracle.</summary>
    CPython311,

    /// <summary>curl, as an HTTP and HTTPS client.</summary>
    Curl,

    /// <summary>The openssl command (s_client, s_server).</summary>
    OpenSsl,

    /// <summary>redis-cli, as a RESP client.</summary>
    RedisCli,

    /// <summary>chromium, headless, as a browser.</summary>
    Chromium,

    /// <summary>haproxy, as a load balancer in front of the HTTP sample.</summary>
    Haproxy,
}

/// <summary>
/// Which outside programs are here. A test that needs one is marked <see cref="NeedsFactAttribute"/>
/// or <see cref="NeedsTheoryAttribute"/> and skips, with one line naming the Debian package that
/// brings the program, where it is missing: `dotnet test` passes with the .NET SDK alone.
/// </summary>
internal static class Needs
{
    /// <summary>The command each program is run as, and the Debian package that brings it.</summary>
    internal static (string Command, string Package) Of(Outside program) => program switch
    {
        Outside.Python3 or Outside.CPython311 => ("python3", "python3"),
        Outside.Curl => ("curl", "curl"),
        Outside.OpenSsl => ("openssl", "openssl"),
        Outside.RedisCli => ("redis-cli", "redis-tools"),
        Outside.Chromium => ("chromium", "chromium"),
        Outside.Haproxy => ("haproxy", "haproxy"),
        _ => throw new ArgumentOutOfRangeException(nameof(program)),
    };

    private static readonly Lazy<string?> CPythonHere = new(() => CPythonReason(Environment.GetEnvironmentVariable("PATH")));

    /// <summary>Why a test that needs <paramref name="programs"/> cannot run here (one line), or null when it can.</summary>
    public static string? Why(params Outside[] programs) => Why(Environment.GetEnvironmentVariable("PATH"), programs);

    /// <summary><see cref="Why(Outside[])"/> with <paramref name="path"/> as PATH.</summary>
    internal static string? Why(string? path, params Outside[] programs)
    {
        var missing = programs.Distinct().Where(p => Find(Of(p).Command, path) is null).ToList();
        if (missing.Count > 0)
        {
            return $"needs {string.Join(", ", missing.Select(p => Of(p).Command))} (apt-get install {string.Join(' ', missing.Select(p => Of(p).Package).Distinct())})";
        }

        if (programs.Contains(Outside.CPython311))
        {
            return path == Environment.GetEnvironmentVariable("PATH") ? CPythonHere.Value : CPythonReason(path);
        }

        return null;
    }

    /// <summary>The full path of <paramref name="command"/> in the folders of <paramref name="path"/> (PATH when null), or null.</summary>
    public static string? Find(string command, string? path = null) =>
        (path ?? Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, command))
            .FirstOrDefault(file => File.Exists(file) && (File.GetUnixFileMode(file) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0);

    /// <summary>The full path of <paramref name="program"/> for a test that is marked as needing it.</summary>
    public static string PathOf(Outside program) =>
        Find(Of(program).Command) ?? throw new InvalidOperationException(Why(program));

    /// <summary>Null when the python3 of <paramref name="path"/> is CPython 3.11 and imports asyncore and asynchat; else why not.</summary>
    private static string? CPythonReason(string? path)
    {
        string? python = Find("python3", path);
        if (python is null)
        {
            return Why(path, Outside.Python3);
        }

        var psi = new ProcessStartInfo(python, ["-W", "ignore", "-c", "import sys; print('%d.%d' % sys.version_info[:2]); import asyncore, asynchat"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (path is not null)
        {
            psi.Environment["PATH"] = path;
        }

        const string Hint = "CPython 3.11 with asynchat, Debian 12's python3 (apt-get install python3); asynchat left CPython in 3.12";
        try
        {
            using Process p = Process.Start(psi)!;
            Task<string> output = p.StandardOutput.ReadToEndAsync();
            Task<string> errors = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(30_000))
            {
                p.Kill(entireProcessTree: true);
                return $"needs python3 that is {Hint}; {python} did not answer in 30 s";
            }

            p.WaitForExit();
            string version = output.Result.Trim();
            return version == "3.11" && p.ExitCode == 0
                ? null
                : $"needs python3 that is {Hint}; {python} is {(version.Length > 0 ? version : "not python")}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"needs python3 that is {Hint}; {python} does not start: {e.Message}";
        }
    }
}

/// <summary>A fact that skips, naming the Debian package to install, where a program it needs is missing.</summary>
public sealed class NeedsFactAttribute : FactAttribute
{
    public NeedsFactAttribute(params Outside[] programs) => Skip = Needs.Why(programs);
}

/// <summary>A theory that skips, naming the Debian package to install, where a program it needs is missing.</summary>
public sealed class NeedsTheoryAttribute : TheoryAttribute
{
    public NeedsTheoryAttribute(params Outside[] programs) => Skip = Needs.Why(programs);
}
