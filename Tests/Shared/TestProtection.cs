using KafkaPipeline.Shared;

namespace KafkaPipeline.Tests;

/// <summary>
/// The protection key the tests give the services they start (they run in the Production environment, which refuses the
/// published development key), and the protector that computes what those services store.
/// </summary>
internal static class TestProtection
{
    public const string Key = "kafkapipeline-tests-only-protection-key";

    public static ProtectionOptions Options => new() { Key = Key };

    public static readonly FieldProtector Protector = new(Options);
}
