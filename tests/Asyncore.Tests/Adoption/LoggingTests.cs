using System.Net;
using System.Net.Sockets;
using Asyncore.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Asyncore.Tests.Adoption;

/// <summary>Log and LogInfo go to the map's ILogger when there is one; HandleError logs the exception object.</summary>
public class LoggingTests
{
    private sealed class Quiet : Dispatcher
    {
        public Quiet(SocketMap map) : base(null, map)
        {
        }

        public void Fail(Exception e) => HandleError(e);

        public void Unhandled() => HandleRead();
    }

    [Fact]
    public void LogInfoGoesToTheLoggerWithLevels()
    {
        var logger = new FakeLogger();
        var map = new SocketMap { Logger = logger };
        var d = new Quiet(map) { IgnoreLogTypes = new HashSet<string>() };
        d.LogInfo("plain");
        d.LogInfo("careful", "warning");
        d.LogInfo("broken", "error");
        d.Log("debugging");
        d.Unhandled();
        var records = logger.Collector.GetSnapshot();
        Assert.Equal(
            new[] { LogLevel.Information, LogLevel.Warning, LogLevel.Error, LogLevel.Debug, LogLevel.Warning },
            records.Select(r => r.Level));
        Assert.EndsWith(": plain", records[0].Message);
        Assert.Contains("unhandled read event", records[4].Message);
        Assert.Contains("Asyncore.Tests.Adoption.LoggingTests+Quiet", records[0].Message);
    }

    [Fact]
    public void IgnoredTypesStayIgnored()
    {
        var logger = new FakeLogger();
        var d = new Quiet(new SocketMap { Logger = logger });
        d.LogInfo("not shown", "warning");
        Assert.Empty(logger.Collector.GetSnapshot());
    }

    [Fact]
    public void HandleErrorLogsTheExceptionObjectAndClosesTheChannel()
    {
        var logger = new FakeLogger();
        using var map = new SocketMap { Logger = logger };
        var d = new Quiet(map);
        d.CreateSocket();
        Assert.Equal(1, map.Count);
        var boom = new InvalidOperationException("boom");
        d.Fail(boom);
        FakeLogRecord record = Assert.Single(logger.Collector.GetSnapshot(), r => r.Level == LogLevel.Error);
        Assert.Same(boom, record.Exception);
        Assert.Contains("closing channel", record.Message);
        Assert.Equal(0, map.Count);
    }

    [Fact]
    public void FileLimitRaiseWarnsOnlyBelowWhatTheProgramSaysItNeeds()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var logger = new FakeLogger();
        long limit = FileLimit.Raise(logger, needed: 10_032); // Redis: maxclients 10,000 + 32
        long high = FileLimit.Raise(logger, needed: long.MaxValue);
        var records = logger.Collector.GetSnapshot();
        Assert.Equal(limit, high);
        Assert.Equal(limit < 10_032 ? LogLevel.Warning : LogLevel.Information, records[0].Level);
        Assert.Equal(LogLevel.Warning, records[1].Level);
        Assert.Contains($"fewer than the {long.MaxValue} it needs", records[1].Message);
    }
}
