namespace Asyncore;

public sealed partial class SocketMap
{
    private MemoryReturnOptions _memoryReturn = new();

    /// <summary>
    /// When this map's loop hands memory back after a burst: once the managed heap has grown well
    /// past its quiet level and the loop has then been quiet for a few seconds, the loop trims its own
    /// buffers and caches and asks the runtime for a compacting collection that returns the memory
    /// to the operating system, once (see <see cref="MemoryReturnOptions"/>). On by default; never
    /// while the loop is busy. Each hand-back is logged at Information level on <see cref="Logger"/>.
    /// </summary>
    /// <remarks>Set <see cref="MemoryReturnOptions.Enabled"/> to false to leave collections to the runtime alone.</remarks>
    public MemoryReturnOptions MemoryReturn
    {
        get => _memoryReturn;
        set => _memoryReturn = value ?? throw new ArgumentNullException(nameof(value));
    }
}
