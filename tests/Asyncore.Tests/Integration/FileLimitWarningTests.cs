using System.Net;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Integration;

/// <summary>
/// The samples raise the open-file limit at start-up and warn only when what they reach is too low
/// for the 10,000 connections a sample server is meant to hold (plus 32 for itself). A hard limit of
/// 20,000 used to bring a warning at every start (the measure was the library's 65,536).
/// </summary>
public sealed class FileLimitWarningTests
{
    /// <summary>
    /// A shell that sets the limit (soft and hard) and runs the program; as root also without
    /// CAP_SYS_RESOURCE (setpriv), which would let it raise the hard limit again.
    /// </summary>
    private static string[] Limited(int files) =>
        Environment.IsPrivilegedProcess
            ? ["/bin/sh", "-c", $"ulimit -n {files} && exec setpriv --bounding-set -sys_resource -- \"$@\"", "sh"]
            : ["/bin/sh", "-c", $"ulimit -n {files} && exec \"$@\"", "sh"];

    [Theory]
    [InlineData("LineServer", new string[0])]
    [InlineData("HttpServer", new[] { "--loops", "2", "--quiet" })]
    public void AHardLimitOf20000IsEnough(string program, string[] args)
    {
        string[] stderr = RunAndStop(program, 20_000, args);
        Assert.DoesNotContain(stderr, l => l.Contains("descriptors", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("LineServer", new string[0])]
    [InlineData("HttpServer", new[] { "--loops", "2", "--quiet" })]
    public void AHardLimitOf1000IsOneLineAndTheServerRunsAnyway(string program, string[] args)
    {
        string[] stderr = RunAndStop(program, 1000, args);
        string line = Assert.Single(stderr);
        Assert.Equal($"{program}: this process may open only 1000 descriptors, fewer than the 10032 that 10000 connections need, so it holds about 968; raise the hard limit (ulimit -Hn 10032) to hold more", line);
    }

    private static string[] RunAndStop(string program, int files, string[] args)
    {
        using var server = SampleProcess.StartServerUnder(Limited(files), program, out IPEndPoint at, args);
        using (var client = new System.Net.Sockets.TcpClient())
        {
            client.Connect(at); // it serves
        }

        Assert.Equal(0, server.Stop());
        return server.Stderr;
    }
}
