using System.Diagnostics;

namespace Asyncore.Tests.Support;

/// <summary>The dotnet CLI, run in a fresh process for tests that build throwaway projects.</summary>
internal static class DotnetCli
{
    /// <summary>The checkout's root folder (where Asyncore.sln is).</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Asyncore.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Asyncore.sln not found above the test's folder");
    }

    /// <summary>Runs the dotnet CLI as a new user would (none of the test host's MSBuild settings) and returns its output; fails the test if it fails.</summary>
    public static string Run(string workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet", args)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };

        // The test host's MSBuild settings must not leak into a fresh build.
        foreach (string key in psi.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            psi.Environment.Remove(key);
        }

        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi)!;
        Task<string> output = p.StandardOutput.ReadToEndAsync();
        Task<string> error = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(300_000), $"dotnet {string.Join(' ', args)} did not finish");
        string all = output.Result + error.Result;
        Assert.True(p.ExitCode == 0, $"dotnet {string.Join(' ', args)} failed:\n{all}");
        return all;
    }

    /// <summary>Writes NAME.csproj as `dotnet new console` makes it (nullable, implicit usings; warnings as errors) with <paramref name="items"/> in an ItemGroup.</summary>
    public static void WriteConsoleProject(string dir, string name, string items) =>
        File.WriteAllText(Path.Combine(dir, name + ".csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                {items}
              </ItemGroup>
            </Project>
            """);
}
