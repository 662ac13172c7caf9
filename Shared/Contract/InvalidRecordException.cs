namespace KafkaPipeline.Shared;

/// <summary>A record that cannot be processed: it goes to the dead-letter topic with this message (never a field's value).</summary>
public sealed class InvalidRecordException : Exception
{
    public InvalidRecordException(string message) : base(message) { }
    public InvalidRecordException(string message, Exception inner) : base(message, inner) { }
}
