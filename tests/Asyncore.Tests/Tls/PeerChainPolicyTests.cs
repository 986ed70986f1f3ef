using System.Net.Security;
using System.Reflection;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Asyncore.Tls;

namespace Asyncore.Tests.Tls;

/// <summary>
/// The policy a peer's certificate is checked with when the options give none (no download, revocation
/// from this machine only), and the copy of the options the SslStream engine makes to carry it.
/// </summary>
public sealed class PeerChainPolicyTests
{
    [Theory]
    [InlineData(X509RevocationMode.NoCheck, X509RevocationMode.NoCheck)]
    [InlineData(X509RevocationMode.Offline, X509RevocationMode.Offline)]
    [InlineData(X509RevocationMode.Online, X509RevocationMode.Offline)]
    public void ThePolicyDownloadsNothingAndChecksRevocationFromThisMachineOnly(X509RevocationMode asked, X509RevocationMode used)
    {
        X509ChainPolicy client = PeerChainPolicy.Create(isServer: false, asked);
        X509ChainPolicy server = PeerChainPolicy.Create(isServer: true, asked);
        Assert.True(client.DisableCertificateDownloads);
        Assert.True(server.DisableCertificateDownloads);
        Assert.Equal(used, client.RevocationMode);
        Assert.Equal(X509RevocationFlag.ExcludeRoot, client.RevocationFlag);
        Assert.Equal("1.3.6.1.5.5.7.3.1", Assert.Single(client.ApplicationPolicy.Cast<System.Security.Cryptography.Oid>()).Value); // a client checks a server
        Assert.Equal("1.3.6.1.5.5.7.3.2", Assert.Single(server.ApplicationPolicy.Cast<System.Security.Cryptography.Oid>()).Value);
        Assert.Equal(X509ChainTrustMode.System, client.TrustMode);
    }

    [Fact]
    public void OptionsWithAPolicyOrWithoutAPeerToCheckAreUsedAsGiven()
    {
        var withPolicy = new SslClientAuthenticationOptions { TargetHost = "x.test", CertificateChainPolicy = new X509ChainPolicy() };
        Assert.Same(withPolicy, SslStreamChainOptions.For(withPolicy));
        var noClientCertificate = TestCertificate.Shared.ServerOptions();
        Assert.Same(noClientCertificate, SslStreamChainOptions.For(noClientCertificate));
        var serverWithPolicy = TestCertificate.Shared.ServerOptions();
        serverWithPolicy.ClientCertificateRequired = true;
        serverWithPolicy.CertificateChainPolicy = new X509ChainPolicy();
        Assert.Same(serverWithPolicy, SslStreamChainOptions.For(serverWithPolicy));
    }

    /// <summary>Every settable option of the runtime's options types is carried into the copy; a new one fails here by name.</summary>
    [Fact]
    public void TheSslStreamEnginesCopyKeepsEveryOptionButThePolicy()
    {
        var client = new SslClientAuthenticationOptions();
        FillEveryOption(client);
        client.CertificateRevocationCheckMode = X509RevocationMode.Online;
        SslClientAuthenticationOptions clientCopy = SslStreamChainOptions.For(client);
        Assert.NotSame(client, clientCopy);
        AssertSameOptions(client, clientCopy);
        Assert.True(clientCopy.CertificateChainPolicy!.DisableCertificateDownloads);
        Assert.Equal(X509RevocationMode.Offline, clientCopy.CertificateChainPolicy.RevocationMode);

        var server = new SslServerAuthenticationOptions();
        FillEveryOption(server);
        Assert.True(server.ClientCertificateRequired);
        SslServerAuthenticationOptions serverCopy = SslStreamChainOptions.For(server);
        Assert.NotSame(server, serverCopy);
        AssertSameOptions(server, serverCopy);
        Assert.True(serverCopy.CertificateChainPolicy!.DisableCertificateDownloads);
        Assert.NotSame(serverCopy.CertificateChainPolicy, SslStreamChainOptions.For(server).CertificateChainPolicy); // one per session
    }

    /// <summary>
    /// SslStream trusts only the roots of a certificate context's SslCertificateTrust when the options give no
    /// policy; the copy, which gives one, trusts the same roots.
    /// </summary>
    [Fact]
    public void TheRootsOfTheCertificateContextsTrustStayTheOnlyTrustedRoots()
    {
        var trust = SslCertificateTrust.CreateForX509Collection([TestCertificates.Ca]);
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = SslStreamCertificateContext.Create(TestCertificate.Shared.Certificate, additionalCertificates: null, offline: true, trust),
            ClientCertificateRequired = true,
        };
        X509ChainPolicy policy = SslStreamChainOptions.For(options).CertificateChainPolicy!;
        Assert.Equal(X509ChainTrustMode.CustomRootTrust, policy.TrustMode);
        Assert.Equal(TestCertificates.Ca.Thumbprint, Assert.Single(policy.CustomTrustStore).Thumbprint);
        Assert.True(policy.DisableCertificateDownloads);

        var untrusted = new SslServerAuthenticationOptions { ServerCertificateContext = TestCertificate.Shared.Context, ClientCertificateRequired = true };
        Assert.Equal(X509ChainTrustMode.System, SslStreamChainOptions.For(untrusted).CertificateChainPolicy!.TrustMode);
    }

    private static IEnumerable<PropertyInfo> Settable(Type type) =>
        type.GetProperties(BindingFlags.Instance | BindingFlags.Public).Where(p => p.CanRead && p.CanWrite && p.Name != "CertificateChainPolicy");

    private static void FillEveryOption(object options)
    {
        foreach (PropertyInfo property in Settable(options.GetType()))
        {
            property.SetValue(options, SampleFor(property, property.GetValue(options)));
        }
    }

    private static void AssertSameOptions(object given, object copy)
    {
        foreach (PropertyInfo property in Settable(given.GetType()))
        {
            object? expected = property.GetValue(given);
            object? actual = property.GetValue(copy);
            Assert.True(
                expected is ValueType || expected is string ? Equals(expected, actual) : ReferenceEquals(expected, actual),
                $"{given.GetType().Name}.{property.Name} was not copied: {expected} became {actual}");
        }
    }

    /// <summary>A value other than the default for each option type the runtime has today.</summary>
    private static object SampleFor(PropertyInfo property, object? current)
    {
        Type type = property.PropertyType;
        if (type == typeof(bool))
        {
            return !(bool)current!;
        }

        if (type.IsEnum)
        {
            return Enum.GetValues(type).Cast<object>().First(v => !Equals(v, current) && !(type == typeof(SslProtocols) && (SslProtocols)v == SslProtocols.None));
        }

        return type switch
        {
            _ when type == typeof(string) => "copy.test",
            _ when type == typeof(List<SslApplicationProtocol>) => new List<SslApplicationProtocol> { SslApplicationProtocol.Http11 },
            _ when type == typeof(CipherSuitesPolicy) => new CipherSuitesPolicy([TlsCipherSuite.TLS_AES_128_GCM_SHA256]),
            _ when type == typeof(SslStreamCertificateContext) => TestCertificate.Shared.Context,
            _ when type == typeof(X509Certificate) => TestCertificate.Shared.Certificate,
            _ when type == typeof(X509CertificateCollection) => new X509CertificateCollection(),
            _ when type == typeof(RemoteCertificateValidationCallback) => new RemoteCertificateValidationCallback((_, _, _, _) => true),
            _ when type == typeof(LocalCertificateSelectionCallback) => new LocalCertificateSelectionCallback((_, _, _, _, _) => null!),
            _ when type == typeof(ServerCertificateSelectionCallback) => new ServerCertificateSelectionCallback((_, _) => null!),
            _ => throw new InvalidOperationException($"{property.DeclaringType!.Name}.{property.Name} ({type.Name}) is new: copy it in SslStreamChainOptions and give it a sample here"),
        };
    }
}
