namespace Asyncore;

/// <summary>
/// Thrown from a callback to end <see cref="EventLoop.Loop(double, bool, SocketMap?, int?)"/> at once.
/// It is the one exception the loop lets through; every other exception a callback throws goes to
/// that channel's <see cref="Dispatcher.HandleError(Exception)"/>.
/// </summary>
/// <remarks>Python: asyncore.ExitNow</remarks>
public class ExitNowException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public ExitNowException() : base("the event loop was asked to exit")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">Why the loop is exiting.</param>
    public ExitNowException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">Why the loop is exiting.</param>
    /// <param name="innerException">The cause.</param>
    public ExitNowException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
