using System.Diagnostics;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Tls;

public sealed class TlsSmokeTests
{
    [NeedsFact(Outside.OpenSsl)]
    public void OpensslClientGetsEchoedLines()
    {
        using var server = new TlsLineServer(TestCertificate.Shared.ServerOptions());
        var psi = new ProcessStartInfo("openssl", $"s_client -connect 127.0.0.1:{server.Address.Port} -quiet -no_ign_eof")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        p.StandardInput.Write("hello\r\nQUIT\r\n");
        p.StandardInput.Flush();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit(10000);
        Assert.Equal("HELLO\r\nBYE\r\n", output);
    }
}
