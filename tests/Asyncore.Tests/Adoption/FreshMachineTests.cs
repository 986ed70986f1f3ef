using Asyncore.Tests.Support;

namespace Asyncore.Tests.Adoption;

/// <summary>
/// `dotnet test` on a machine with the .NET SDK alone: a test that needs an outside program skips
/// with one line naming the Debian package that brings it. Checked here against PATHs made for the
/// test (an empty folder, a folder with a stand-in python3); .ci/run also runs the whole suite with
/// the programs hidden from PATH.
/// </summary>
public sealed class FreshMachineTests : IDisposable
{
    private readonly string _bin = Directory.CreateTempSubdirectory("asyncore-path-").FullName;

    public void Dispose() => Directory.Delete(_bin, recursive: true);

    private void FakePython(string version, int exitCode) =>
        File.WriteAllText(Path.Combine(_bin, "python3"), $"#!/bin/sh\necho {version}\nexit {exitCode}\n");

    private void MakeExecutable() =>
        File.SetUnixFileMode(Path.Combine(_bin, "python3"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

    [Theory]
    [InlineData(Outside.Python3, "needs python3 (apt-get install python3)")]
    [InlineData(Outside.CPython311, "needs python3 (apt-get install python3)")]
    [InlineData(Outside.Curl, "needs curl (apt-get install curl)")]
    [InlineData(Outside.OpenSsl, "needs openssl (apt-get install openssl)")]
    [InlineData(Outside.RedisCli, "needs redis-cli (apt-get install redis-tools)")]
    [InlineData(Outside.Chromium, "needs chromium (apt-get install chromium)")]
    [InlineData(Outside.Haproxy, "needs haproxy (apt-get install haproxy)")]
    public void AMissingProgramIsOneLineWithItsPackage(Outside program, string expected) =>
        Assert.Equal(expected, Needs.Why(_bin, program));

    [Fact]
    public void SeveralMissingProgramsShareOneInstallLine() =>
        Assert.Equal("needs curl, openssl (apt-get install curl openssl)", Needs.Why(_bin, Outside.Curl, Outside.OpenSsl));

    [Fact]
    public void APython3ThatIsNot311RunsTheClientTestsButNotTheOracle()
    {
        FakePython("3.13", exitCode: 1); // 3.13 has no asynchat: the import fails
        MakeExecutable();
        Assert.Null(Needs.Why(_bin, Outside.Python3));
        string? why = Needs.Why(_bin, Outside.CPython311);
        Assert.NotNull(why);
        Assert.StartsWith("needs python3 that is CPython 3.11 with asynchat", why);
        Assert.Contains("apt-get install python3", why);
        Assert.EndsWith("is 3.13", why);
        Assert.DoesNotContain('\n', why);
    }

    [Fact]
    public void A311ThatImportsAsynchatRunsTheOracle()
    {
        FakePython("3.11", exitCode: 0);
        MakeExecutable();
        Assert.Null(Needs.Why(_bin, Outside.CPython311));
    }

    [Fact]
    public void AFileThatIsNotExecutableIsNotTheProgram()
    {
        FakePython("3.11", exitCode: 0);
        Assert.Equal("needs python3 (apt-get install python3)", Needs.Why(_bin, Outside.Python3));
    }
}
