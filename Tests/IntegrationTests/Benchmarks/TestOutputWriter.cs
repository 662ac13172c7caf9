using System.Text;
using Xunit.Abstractions;

namespace KafkaPipeline.IntegrationTests.Benchmarks;

/// <summary>The benchmark's progress lines, into the test's output.</summary>
internal sealed class TestOutputWriter(ITestOutputHelper output) : TextWriter
{
    public override Encoding Encoding => Encoding.UTF8;

    public override void WriteLine(string? value)
    {
        try
        {
            output.WriteLine(value ?? "");
        }
        catch (InvalidOperationException)
        {
            // the test has already finished
        }
    }
}
