using Asyncore.Tests.Support;

namespace Asyncore.Tests.Integration;

/// <summary>
/// Every sample's command-line mistakes, as a new user makes them: each is one line on standard
/// error that starts with the program's name, exit code 2 (System.CommandLine's convention), nothing
/// on standard output, and never a stack trace. A value that is not a number used to crash the
/// program (exit code 134, "Unhandled exception").
/// </summary>
public sealed class SampleFlagTests
{
    private static readonly string Maildir = Path.Combine(Path.GetTempPath(), "asyncore-unused-maildir");

    public static TheoryData<string, string[], string> Mistakes() => new()
    {
        { "HttpServer", ["--port", "abc"], "--port: not a whole number: 'abc'" },
        { "HttpServer", ["--port", "99999"], "--port: must be between 0 and 65535" },
        { "HttpServer", ["--port"], "--port" },
        { "HttpServer", ["--loops", "x"], "--loops: not a whole number: 'x'" },
        { "HttpServer", ["--loops", "0"], "--loops: must be between 1 and 1024" },
        { "HttpServer", ["--drain-timeout", "x"], "--drain-timeout: not a number: 'x'" },
        { "HttpServer", ["--drain-timeout", "NaN"], "--drain-timeout: not a number: 'NaN'" },
        { "HttpServer", ["--max-body", "x"], "--max-body: not a whole number: 'x'" },
        { "HttpServer", ["--idle-timeout", "soon"], "--idle-timeout: not a number: 'soon'" },
        { "HttpServer", ["--request-timeout", "-1"], "--request-timeout: must be between 0 and 86400" },
        { "HttpServer", ["--poller", "kqueue"], "--poller: not a backend: 'kqueue'" },
        { "HttpServer", ["--host", "localhost"], "--host: not an IP address: 'localhost'" },
        { "HttpServer", ["--bogus"], "'--bogus'" },
        { "HttpServer", ["--port", "abc", "--loops", "x"], "--port: not a whole number: 'abc'; --loops: not a whole number: 'x'" },
        { "HttpServer", ["--root", "/nonexistent/site"], "--root: no such folder: /nonexistent/site" },
        { "HttpServer", ["--proxy-protocol", "--proxy-from", "10.0.0.0/40"], "--proxy-from: not a network (CIDR, such as 10.0.0.0/8): '10.0.0.0/40'" },
        { "HttpServer", ["--proxy-from", "10.0.0.0/8"], "--proxy-from needs --proxy-protocol" },
        { "HttpServer", ["--cert", "/nonexistent/cert.pem", "--key", "/nonexistent/key.pem"], "cannot load --cert /nonexistent/cert.pem" },
        { "HttpServer", ["--cert", "/nonexistent/cert.pem"], "--cert and --key go together" },
        { "PingServer", ["--port", "abc"], "--port: not a whole number: 'abc'" },
        { "PingServer", ["--loops", "x"], "--loops: not a whole number: 'x'" },
        { "PingServer", ["--drain-timeout", "1e9"], "--drain-timeout: must be between 0 and 86400" },
        { "LineServer", ["--port", "abc"], "--port: not a whole number: 'abc'" },
        { "LineServer", ["extra"], "'extra'" },
        { "EchoServer", ["--drain-timeout", "x"], "--drain-timeout: not a number: 'x'" },
        { "EchoServer", ["client", "--port", "abc"], "--port: not a whole number: 'abc'" },
        { "EchoServer", ["client", "--bytes", "x"], "--bytes: not a whole number: 'x'" },
        { "EchoServer", ["client", "--host", "abc"], "--host: not an IP address: 'abc'" },
        { "SmtpServer", ["--maildir", Maildir, "--max-size", "x"], "--max-size: not a whole number: 'x'" },
        { "SmtpServer", ["--maildir", Maildir, "--max-recipients", "0"], "--max-recipients: must be 1 or more" },
        { "SmtpServer", ["--maildir", Maildir, "--timeout", "x"], "--timeout: not a number: 'x'" },
        { "SmtpServer", ["--maildir", Maildir, "--require-tls"], "--require-tls needs --cert and --key" },
        { "SmtpServer", ["--maildir", Maildir, "--cert", "/nonexistent/cert.pem", "--key", "/nonexistent/key.pem"], "cannot load --cert /nonexistent/cert.pem" },
        { "Bulk", ["recv", "abc", "10"], "PORT: not a port (0 to 65535): 'abc'" },
        { "Bulk", ["recv", "9000", "x"], "BYTES: not a whole number of bytes: 'x'" },
        { "Bulk", ["send", "9000", "10", "0"], "CHUNK: not a block size of 1 byte or more: '0'" },
        { "Bulk", ["send", "9000", "10", "4096", "kqueue"], "BACKEND: not a backend: 'kqueue'" },
        { "Bulk", ["send", "9000", "10", "4096", "1"], "BACKEND: not a backend: '1'" },
        { "Bulk", [], "usage: Bulk recv|send PORT BYTES" },
    };

    [Theory]
    [MemberData(nameof(Mistakes))]
    public void ACommandLineMistakeIsOneLineAndExitCode2(string program, string[] args, string expected)
    {
        (int code, string[] stdout, string[] stderr) = SampleProcess.Run(program, args);
        string said = string.Join("\n", stdout.Concat(stderr));
        Assert.True(code == 2, $"exit code {code}: {said}");
        Assert.DoesNotContain("Unhandled exception", said);
        Assert.DoesNotContain("   at ", said);
        Assert.Empty(stdout);
        string line = Assert.Single(stderr);
        Assert.StartsWith(program + ": ", line);
        Assert.Contains(expected, line);
    }

    [Theory]
    [InlineData("HttpServer")]
    [InlineData("PingServer")]
    [InlineData("LineServer")]
    [InlineData("EchoServer")]
    [InlineData("SmtpServer")]
    public void HelpIsExitCode0(string program)
    {
        (int code, string[] stdout, string[] stderr) = SampleProcess.Run(program, "--help");
        Assert.Equal(0, code);
        Assert.Contains(stdout, l => l.TrimStart().StartsWith("--port", StringComparison.Ordinal));
        Assert.Empty(stderr);
    }
}
