using System.Text;
using System.Text.RegularExpressions;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Adoption;

/// <summary>
/// Every ```csharp block of README.md and docs/*.md, built as a new user copies it: each block is the
/// Program.cs of a new console project against the library, and all of them must build with warnings
/// as errors. A block that uses the classes of an earlier one says so on the line right above its
/// fence, <c>&lt;!-- compiled with the classes of "SECTION" --&gt;</c>, and gets the classes of the
/// first csharp block under that heading appended (as a reader would paste them). A compiler error
/// points at the Markdown file and line (#line).
/// </summary>
public sealed partial class DocsCodeTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("asyncore-docs-code-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    /// <summary>A code block: its file (relative to the repository), the line of its first code line, its fence's language, its text, and the section its marker names.</summary>
    internal sealed record Block(string File, int Line, string Language, string Code, string? With);

    /// <summary>The Markdown files whose C# must build.</summary>
    internal static IEnumerable<string> Documents()
    {
        string root = DotnetCli.RepoRoot();
        yield return "README.md";
        foreach (string doc in Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Order(StringComparer.Ordinal))
        {
            yield return Path.GetRelativePath(root, doc);
        }
    }

    /// <summary>Every fenced block of <paramref name="file"/>, with the heading each one is under.</summary>
    internal static List<(Block Block, string Heading)> BlocksOf(string file)
    {
        string[] lines = File.ReadAllLines(Path.Combine(DotnetCli.RepoRoot(), file));
        var blocks = new List<(Block, string)>();
        string heading = string.Empty;
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].StartsWith('#'))
            {
                heading = lines[i].TrimStart('#').Trim();
                continue;
            }

            if (!lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                continue;
            }

            string language = lines[i].Trim()[3..].Trim();
            int previous = i - 1;
            while (previous >= 0 && lines[previous].Trim().Length == 0)
            {
                previous--;
            }

            Match marker = previous >= 0 ? Marker().Match(lines[previous].Trim()) : Match.Empty;
            int start = i + 1;
            int end = start;
            while (end < lines.Length && !lines[end].TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                end++;
            }

            Assert.True(end < lines.Length, $"{file}:{i + 1}: a code block that never ends");
            blocks.Add((new Block(file, start + 1, language, string.Join('\n', lines[start..end]) + "\n", marker.Success ? marker.Groups[1].Value : null), heading));
            i = end;
        }

        return blocks;
    }

    /// <summary>The C# blocks of README.md and docs/*.md.</summary>
    internal static List<Block> CSharpBlocks() =>
        Documents().SelectMany(BlocksOf).Select(b => b.Block).Where(b => b.Language == "csharp").ToList();

    /// <summary>The first csharp block under the heading <paramref name="section"/> of <paramref name="file"/>.</summary>
    private static Block SectionBlock(string file, string section)
    {
        var found = BlocksOf(file).FirstOrDefault(b => b.Heading == section && b.Block.Language == "csharp");
        Assert.True(found.Block is not null, $"{file} has no csharp block under a heading \"{section}\"");
        return found.Block;
    }

    /// <summary>The classes of <paramref name="block"/> (from its first type declaration on), after those of the block it names, with #line directives.</summary>
    private static string ClassesOf(Block block, int depth = 0)
    {
        Assert.True(depth < 8, "markers that name each other in a circle");
        string[] lines = block.Code.Split('\n');
        int first = Array.FindIndex(lines, l => TypeDeclaration().IsMatch(l));
        Assert.True(first >= 0, $"{block.File}:{block.Line}: a marker names this block, which declares no class");
        string own = $"#line {block.Line + first} \"{block.File}\"\n" + string.Join('\n', lines[first..]);
        return block.With is null ? own : ClassesOf(SectionBlock(block.File, block.With), depth + 1) + "\n" + own;
    }

    /// <summary>The Program.cs a reader ends up with for <paramref name="block"/>.</summary>
    internal static string ProgramOf(Block block) =>
        $"#line {block.Line} \"{block.File}\"\n{block.Code}"
        + (block.With is null ? string.Empty : "\n" + ClassesOf(SectionBlock(block.File, block.With)) + "\n");

    [Fact]
    public void EveryCSharpBlockIsFencedAsCsharp()
    {
        var misspelled = Documents().SelectMany(BlocksOf).Select(b => b.Block)
            .Where(b => b.Language != "csharp" && b.Language.ToLowerInvariant() is "cs" or "c#" or "csharp" or "c-sharp")
            .Select(b => $"{b.File}:{b.Line - 1} ```{b.Language}")
            .ToList();
        Assert.True(misspelled.Count == 0, "C# blocks this test would not build (fence them ```csharp): " + string.Join(", ", misspelled));
        Assert.Contains(CSharpBlocks(), b => b.File == "README.md");
    }

    [Fact]
    public void EveryCSharpBlockBuilds()
    {
        List<Block> blocks = CSharpBlocks();
        Assert.True(blocks.Count >= 6, $"only {blocks.Count} csharp blocks found");
        var solution = new StringBuilder("<Solution>\n");
        for (int i = 0; i < blocks.Count; i++)
        {
            Block block = blocks[i];
            string name = $"{Path.GetFileNameWithoutExtension(block.File).Replace('.', '_')}_line{block.Line}";
            string dir = Path.Combine(_work, name);
            Directory.CreateDirectory(dir);
            DotnetCli.WriteConsoleProject(dir, name, $"""
                <Reference Include="Asyncore" HintPath="{Path.Combine(AppContext.BaseDirectory, "Asyncore.dll")}" />
                    <PackageReference Include="Microsoft.Extensions.Logging.Abstractions" Version="10.0.0" />
                    <PackageReference Include="Microsoft.Extensions.Logging.Console" Version="10.0.0" />
                """);
            File.WriteAllText(Path.Combine(dir, "Program.cs"), ProgramOf(block));
            solution.Append($"  <Project Path=\"{name}/{name}.csproj\" />\n");
        }

        File.WriteAllText(Path.Combine(_work, "docs.slnx"), solution.Append("</Solution>\n").ToString());
        DotnetCli.Run(_work, "build", "docs.slnx", "-c", "Release", "-v", "q", "-nologo");
    }

    [Fact]
    public void AMarkedBlockGetsTheClassesOfTheSectionItNames()
    {
        Block tls = Assert.Single(CSharpBlocks(), b => b.Code.Contains("StartTls", StringComparison.Ordinal));
        Assert.Equal("A line-protocol server in 20 lines", tls.With);
        string program = ProgramOf(tls);
        Assert.Contains("sealed class Shouter : AsyncChat", program);
        Assert.Contains($"#line {tls.Line} \"README.md\"", program);
    }

    [GeneratedRegex("""^<!-- compiled with the classes of "([^"]+)" -->$""")]
    private static partial Regex Marker();

    [GeneratedRegex(@"^(public |internal )?(sealed |abstract |static )?(partial )?(class|record|struct|interface|enum) ")]
    private static partial Regex TypeDeclaration();
}
