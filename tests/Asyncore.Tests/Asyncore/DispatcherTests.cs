using System.Text.RegularExpressions;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Asyncore;

/// <summary>Twins of CPython 3.11 test_asyncore.DispatcherTests.</summary>
[Collection(ProcessWide.Name)]
public class DispatcherTests
{
    private static (string Out, string Err) Capture(Action action)
    {
        TextWriter oldOut = Console.Out, oldErr = Console.Error;
        var o = new StringWriter();
        var e = new StringWriter();
        Console.SetOut(o);
        Console.SetError(e);
        try
        {
            action();
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }

        return (o.ToString(), e.ToString());
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    [Fact]
    public void test_basic()
    {
        var d = new Dispatcher();
        Assert.True(d.Readable());
        Assert.True(d.Writable());
    }

    [Fact]
    public void test_repr()
    {
        var d = new Dispatcher();
        Assert.Matches(new Regex("^<Asyncore\\.Dispatcher at 0x[0-9a-f]+>$"), d.ToString());
    }

    [Fact]
    public void test_log()
    {
        var d = new Dispatcher();
        const string l1 = "Lovely spam! Wonderful spam!";
        const string l2 = "I don't like spam!";
        var (_, err) = Capture(() =>
        {
            d.Log(l1);
            d.Log(l2);
        });
        Assert.Equal(new[] { $"log: {l1}", $"log: {l2}" }, Lines(err));
    }

    [Fact]
    public void test_log_info()
    {
        var d = new Dispatcher();
        const string l1 = "Have you got anything without spam?";
        const string l2 = "Why can't she have egg bacon spam and sausage?";
        const string l3 = "THAT'S got spam in it!";
        var (output, _) = Capture(() =>
        {
            d.LogInfo(l1, "EGGS");
            d.LogInfo(l2);
            d.LogInfo(l3, "SPAM");
        });
        Assert.Equal(new[] { $"EGGS: {l1}", $"info: {l2}", $"SPAM: {l3}" }, Lines(output));
    }

    private sealed class Unhandled : Dispatcher
    {
        public void Run()
        {
            HandleExpt();
            HandleRead();
            HandleWrite();
            HandleConnect();
        }
    }

    [Fact]
    public void test_unhandled()
    {
        var d = new Unhandled { IgnoreLogTypes = new HashSet<string>() };
        var (output, _) = Capture(d.Run);
        Assert.Equal(
            new[]
            {
                "warning: unhandled incoming priority event",
                "warning: unhandled read event",
                "warning: unhandled write event",
                "warning: unhandled connect event",
            },
            Lines(output));
    }

    [Fact]
    public void test_strerror()
    {
        Assert.Equal("Operation not permitted", Errors.StrError(1 /* EPERM */));
        Assert.NotEqual(string.Empty, Errors.StrError(-1));
    }

    /// <summary>Warnings are ignored by default (ignore_log_types = {'warning'}).</summary>
    [Fact]
    public void warnings_are_ignored_by_default()
    {
        var d = new Unhandled();
        var (output, _) = Capture(d.Run);
        Assert.Equal(string.Empty, output);
    }
}
