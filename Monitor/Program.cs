using KafkaPipeline.Monitor;
using KafkaPipeline.Shared;
using Microsoft.Extensions.Options;

var builder = Host.CreateApplicationBuilder(args);
builder.AddValidatedOptions<MonitorOptions>(MonitorOptions.Section);
builder.AddValidatedOptions<S3Options>(S3Options.Section);
var postgres = ConnectionNames.Require(builder.Configuration, ConnectionNames.Postgres);
var kafka = ConnectionNames.Require(builder.Configuration, ConnectionNames.Kafka);
var mysql = ConnectionNames.Require(builder.Configuration, ConnectionNames.MySql);
builder.Services.AddSingleton(sp =>
{
    var o = sp.GetRequiredService<IOptions<MonitorOptions>>().Value;
    return new PipelineStatus(postgres, kafka, mysql, sp.GetRequiredService<IOptions<S3Options>>().Value,
        TopicNames.ForTable(o.TopicPrefix, o.Table), o.Table);
});
builder.Services.AddHostedService<StatusWorker>();
builder.Build().Run();
