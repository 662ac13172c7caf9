namespace KafkaPipeline.AppHost.Tests;

// The Dashboard's login as the AppHost wires it (AppHost/DashboardLogin.cs), checked on the model: nothing starts.
public sealed class DashboardLoginModelTests
{
    [Theory]
    [InlineData("local")]
    [InlineData("containers")]
    public async Task The_Dashboard_gets_a_browser_and_a_wall_token_as_generated_secret_parameters(string runtime)
    {
        await using var builder = await AppHostModel.CreateAsync(runtime);

        var env = await AppHostModel.EnvironmentAsync(AppHostModel.Single<ProjectResource>(builder, "dashboard"));
        foreach (var (variable, parameter) in new[] { ("Dashboard__BrowserToken", "dashboard-token"), ("Dashboard__WallToken", "dashboard-wall-token") })
        {
            Assert.Equal($"{{{parameter}.value}}", env[variable]);
            var p = AppHostModel.Single<ParameterResource>(builder, parameter);
            Assert.True(p.Secret, $"{parameter} is not secret");
            Assert.IsType<GenerateParameterDefault>(p.Default); // generated, never a value of the repository
        }
        Assert.DoesNotContain("Dashboard__Authentication", env.Keys); // token, the Dashboard's default
        foreach (var other in AppHostModel.Services.Where(s => s != "dashboard"))
            Assert.DoesNotContain("Dashboard__BrowserToken", (await AppHostModel.EnvironmentAsync(AppHostModel.Single<ProjectResource>(builder, other))).Keys);
    }

    [Fact]
    public async Task A_publish_names_the_Dashboards_allowed_hosts_as_a_parameter_the_deployment_sets()
    {
        await using var publish = await AppHostModel.CreateAsync("containers", "--publisher", "manifest", "--output-path", Path.GetTempFileName());

        var env = await AppHostModel.EnvironmentAsync(AppHostModel.Single<ProjectResource>(publish, "dashboard"));
        Assert.Equal("{dashboard-allowed-hosts.value}", env["AllowedHosts"]);
        Assert.Equal("{dashboard-token.value}", env["Dashboard__BrowserToken"]);
    }

    [Theory]
    [InlineData("containers")]
    [InlineData("publish")]
    public async Task No_login_is_refused_under_the_containers_runtime_and_in_a_publish_naming_the_setting(string how)
    {
        string[] args = how == "publish"
            ? ["--Dashboard:Authentication=none", "--publisher", "manifest", "--output-path", Path.GetTempFileName()]
            : ["--Dashboard:Authentication=none"];
        var error = await Assert.ThrowsAnyAsync<Exception>(() => AppHostModel.CreateAsync(how == "publish" ? "containers" : how, args));
        Assert.Contains("Dashboard:Authentication=none is for the local runtime only", RuntimeModelTests.Flatten(error), StringComparison.Ordinal);
    }
}
