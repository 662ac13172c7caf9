using KafkaPipeline.MySqlSinkService;

MySqlSinkApp.CreateApp(args).Run();

namespace KafkaPipeline.MySqlSinkService
{
    using KafkaPipeline.Shared;
    using MySqlConnector;

    /// <summary>Builds the service; public so the integration tests can run it in-process with their own settings.</summary>
    public static class MySqlSinkApp
    {
        /// <param name="configureServices">Extra registrations (tests add log capture), applied last.</param>
        public static WebApplication CreateApp(string[] args, Action<IServiceCollection>? configureServices = null)
        {
            var builder = WebApplication.CreateBuilder(args);
            builder.AddServiceDefaults();

            builder.AddValidatedOptions<MySqlSinkOptions>(MySqlSinkOptions.Section);
            var mysql = ConnectionNames.Require(builder.Configuration, ConnectionNames.MySql);
            var kafka = ConnectionNames.Require(builder.Configuration, ConnectionNames.Kafka);
            CheckMySqlConnectionString(mysql);

            builder.Services.AddSingleton(new SinkConnections(mysql, kafka));
            builder.Services.AddSingleton<MySqlSinkProgress>();
            builder.Services.AddHostedService<MySqlSinkWorker>();
            builder.Services.AddHealthChecks().AddMySql(mysql).AddKafka(kafka);
            configureServices?.Invoke(builder.Services);

            var app = builder.Build();
            app.MapDefaultEndpoints();
            return app;
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
}
