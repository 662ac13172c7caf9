using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KafkaPipeline.Shared;

/// <summary>A failure that waiting cannot fix (bad configuration, missing privilege): the service stops with its message.</summary>
public sealed class NotRetriableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Stopping a service on a <see cref="NotRetriableException"/> at start-up.</summary>
public static class NotRetriableExceptionExtensions
{
    /// <summary>Logs the reason as one line (no stack trace: the message names the fix) and stops the service with exit code 1.</summary>
    public static void StopService(this NotRetriableException e, IHostApplicationLifetime lifetime, ILogger logger)
    {
        logger.LogCritical("Stopping: {Reason}", e.Message);
        Environment.ExitCode = 1;
        lifetime.StopApplication();
    }
}
