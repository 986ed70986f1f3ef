using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using Asyncore.Framing;
using Asyncore.Tests.Framing;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Conformance;

/// <summary>
/// CPython 3.11's async_chat.handle_read as the oracle: the same chunks and terminator program go
/// through asynchat_trace.py and through ChatFramer; the event traces (every collect with its exact
/// bytes, chunk boundaries included, and every found_terminator with the terminator it saw) must be
/// identical.
/// </summary>
public class CPythonOracleTests
{
    internal static JsonNode? Encode(Terminator t) => t.Kind switch
    {
        TerminatorKind.None => null,
        TerminatorKind.Count => new JsonObject { ["n"] = t.Count },
        _ => new JsonObject { ["b"] = Convert.ToHexStringLower(t.Bytes) },
    };

    /// <summary>Runs asynchat_trace.py over <paramref name="input"/> in CPython 3.11 (a test that calls it is marked <c>[NeedsFact(Outside.CPython311)]</c>).</summary>
    internal static string RunPython(string input)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "Conformance", "asynchat_trace.py");
        ProcessStartInfo psi = new(Needs.PathOf(Outside.CPython311), ["-W", "ignore", script])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardInput.Write(input);
        p.StandardInput.Close();
        Assert.True(p.WaitForExit(60_000), "python did not finish");
        Assert.True(p.ExitCode == 0, stderr.Result);
        return stdout.Result;
    }

    [NeedsFact(Outside.CPython311)]
    public void TracesMatchCPython()
    {
        var cases = new List<(byte[][] Chunks, Terminator[] Program)>();
        var gen = Gen.Select(SplitInvarianceTests.GenStream, SplitInvarianceTests.GenProgram, Gen.Int[0, 300].Array[0, 30]);
        gen.Sample((stream, program, cuts) =>
        {
            var chunks = new List<byte[]>();
            int at = 0;
            foreach (int cut in cuts.Where(c => c > 0 && c < stream.Length).Distinct().Order().Append(stream.Length))
            {
                chunks.Add(stream[at..cut]);
                at = cut;
            }

            cases.Add((chunks.Where(c => c.Length > 0).ToArray(), program));
        }, iter: 400, threads: 1);

        var json = new JsonArray(cases.Select(c => (JsonNode)new JsonObject
        {
            ["chunks"] = new JsonArray(c.Chunks.Select(ch => (JsonNode)Convert.ToHexStringLower(ch)).ToArray()),
            ["program"] = new JsonArray(c.Program.Select(Encode).ToArray()),
        }).ToArray());

        JsonArray traces = JsonNode.Parse(RunPython(json.ToJsonString()))!.AsArray();
        Assert.Equal(cases.Count, traces.Count);

        for (int i = 0; i < cases.Count; i++)
        {
            var framer = new ChatFramer();
            var target = new RecordingTarget(cases[i].Program);
            foreach (byte[] chunk in cases[i].Chunks)
            {
                framer.Feed(chunk, ref target);
            }

            var ours = new JsonArray(target.Events.Select(e => (JsonNode)(e.Kind == 'c'
                ? new JsonArray("c", Convert.ToHexStringLower(e.Data))
                : new JsonArray("f", Encode(e.At)))).ToArray());
            Assert.True(
                JsonNode.DeepEquals(traces[i], ours),
                $"case {i}: chunks [{string.Join(", ", cases[i].Chunks.Select(Convert.ToHexString))}] program [{string.Join(", ", cases[i].Program)}]\nCPython: {traces[i]!.ToJsonString()}\nours:    {ours.ToJsonString()}");
        }
    }
}
