using Confluent.Kafka;
using KafkaPipeline.Shared;

namespace KafkaPipeline.UnitTests.Shared;

public sealed class ChangeHeadersTests
{
    [Fact]
    public void Written_headers_read_back_as_the_same_op_version_and_commit_time()
    {
        var headers = new Headers();
        var version = new SourceVersion(0x1_016B_3748, 0x1_016B_3700);
        var commit = new DateTime(2026, 11, 29, 20, 1, 2, DateTimeKind.Utc).AddTicks(1_234_560);
        ChangeHeaders.Write(headers, ChangeOp.Update, version, commit);

        Assert.Equal("u", ChangeHeaders.ReadOp(headers));
        Assert.Equal("1/16B3748", PipelineHeaders.GetString(headers, ChangeHeaders.CommitLsn));
        Assert.Equal(version, ChangeHeaders.ReadVersion(headers));
        Assert.Equal(commit, ChangeHeaders.ReadCommitTime(headers));
        Assert.Equal(DateTimeKind.Utc, ChangeHeaders.ReadCommitTime(headers)!.Value.Kind);
    }

    [Fact]
    public void Records_without_headers_have_no_version_and_versions_order_by_commit_then_change()
    {
        Assert.Equal(SourceVersion.None, ChangeHeaders.ReadVersion(null));
        Assert.Null(ChangeHeaders.ReadCommitTime(new Headers()));
        Assert.False(SourceVersion.None.HasLsn);
        Assert.True(new SourceVersion(2, 0) > new SourceVersion(1, 99));
        Assert.True(new SourceVersion(2, 5) > new SourceVersion(2, 4));
        Assert.True(new SourceVersion(2, 5) >= new SourceVersion(2, 5));
    }
}
