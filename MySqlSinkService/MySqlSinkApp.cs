using KafkaPipeline.Shared;
using KafkaPipeline.Shared.Sinks;
using MySqlConnector;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>Builds the MySQL sink (the shape every service shares); Program.cs runs it, tests build it in-process.</summary>
public static class MySqlSinkApp
{
    /// <param name="configureServices">Extra registrations (tests), applied last.</param>
    public static WebApplication Create(string[] args, Action<IServiceCollection>? configureServices = null) =>
        ServiceApplication.Create(args, AddApplicationServices, configureServices);

    private static void AddApplicationServices(IHostApplicationBuilder builder)
    {
        builder.AddPipelineTelemetry();
        var mysql = ConnectionNames.Require(builder.Configuration, ConnectionNames.MySql);
        CheckMySqlConnectionString(mysql);
        builder.AddKafkaClients();
        builder.AddSink<MySqlSinkTask, MySqlSinkOptions>(MySqlSinkOptions.Section);
        builder.Services.AddHealthChecks().AddMySql(mysql);
    }

    private static void CheckMySqlConnectionString(string value)
    {
        try
        {
            _ = new MySqlConnectionStringBuilder(value);
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException(
                $"Setting ConnectionStrings:{ConnectionNames.MySql} is not a valid MySQL connection string: {e.Message}", e);
        }
    }
}
