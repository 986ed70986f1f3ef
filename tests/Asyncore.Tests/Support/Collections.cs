namespace Asyncore.Tests.Support;

/// <summary>
/// Tests that touch process-wide state (SocketMap.Default, Console.Out / Console.Error) run in
/// this collection, alone, after the parallel ones. Every other test uses a SocketMap of its own.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWide
{
    public const string Name = "process-wide state";
}
