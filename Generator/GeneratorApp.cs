using KafkaPipeline.Shared;
using Npgsql;

namespace KafkaPipeline.Generator;

/// <summary>Builds the Generator service; Program.cs runs it and tests may build it in-process.</summary>
public static class GeneratorApp
{
    public static WebApplication Create(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.AddValidatedOptions<GeneratorOptions>(GeneratorOptions.Section);

        var postgres = ConnectionNames.Require(builder.Configuration, ConnectionNames.Postgres);
        builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(postgres));
        builder.Services.AddHealthChecks().AddPostgres(postgres);
        builder.Services.AddHostedService<UserGenerator>();

        var app = builder.Build();
        app.MapDefaultEndpoints();
        return app;
    }
}
