// The pipeline as an Aspire application: PostgreSQL -> SourceService -> Kafka -> MySQL and S3 sinks, fed by the
// Generator and watched by the Monitor. docs/aspire.md has the runtimes, ports and what was verified.
using KafkaPipeline.AppHost;

var builder = DistributedApplication.CreateBuilder(args);
builder.AddServiceReaper(); // a service whose `dotnet run` launcher died is ended with the run

// The servers: `local` processes from eng/install.sh, or `containers` where a container runtime answers. Same resource
// names and connection strings either way, so the services cannot tell the two apart.
var runtime = PipelineRuntimes.Choose(builder);
// Pipeline:Tables, the tables the pipeline carries (default users): a topic and a dead-letter topic each, and the
// setting handed to every service that reads it, so `./run.sh --Pipeline:Tables=users,orders` is all a user types.
var tables = builder.PipelineTables();
var topics = builder.Topics(tables);
Console.WriteLine($"AppHost: tables {string.Join(",", tables.TableList)} (topics {string.Join(", ", topics.Select(t => t.Name))})");
var stores = builder.AddPipelineStores(runtime, topics);

// Key of the keyed hash that replaces private fields (ssn) in the lake and the dead-letter topic
// (Shared/Protection/FieldProtection.cs); generated once and kept in the AppHost's user secrets.
var protectionKey = builder.AddParameter("protection-key",
    new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true);

// Pipeline:SinkReplicas runs that many instances of each sink in their consumer groups (the replica tests).
var sinkReplicas = builder.SinkReplicas();

builder.AddPipelineService<Projects.Generator>("generator", "Generator")
    .WithStores(stores.UsersDb);

builder.AddPipelineService<Projects.SourceService>("source", "Source")
    .WithStores(stores.UsersDb, stores.Kafka)
    .WithPipelineTables(tables);

builder.AddPipelineService<Projects.MySqlSinkService>("mysql-sink", "MySqlSink")
    .WithStores(stores.Kafka, stores.EmailDb)
    .WithPipelineTables(tables)
    .WithEnvironment("Protection__Key", protectionKey) // its dead-letter records are protected too
    .WithReplicas(sinkReplicas);

builder.AddPipelineService<Projects.S3SinkService>("s3-sink", "S3Sink")
    .WithStores(stores.Kafka, stores.S3)
    .WithPipelineTables(tables)
    .WithEnvironment("Protection__Key", protectionKey)
    .WithReplicas(sinkReplicas);

// The status line that ./run.sh forwards every 5 s.
builder.AddPipelineService<Projects.Monitor>("monitor", "Monitor")
    .WithStores(stores.UsersDb, stores.Kafka, stores.EmailDb, stores.S3)
    .WithPipelineTables(tables)
    .WithStatusLinesOnConsole();

// The CEO's live screen and the topic browser: a page people open, so a fixed port (http://127.0.0.1:5080/ under
// ./run.sh) and an external endpoint, behind a login (AppHost/DashboardLogin.cs). It reads only Kafka; the protection
// key hashes messages as the lake stores them.
builder.AddPipelineService<Projects.Dashboard>("dashboard", "Dashboard", port: builder.DashboardPort())
    .WithStores(stores.Kafka)
    .WithPipelineTables(tables)
    .WithEnvironment("Protection__Key", protectionKey)
    .WithDashboardLogin(runtime)
    .WithExternalHttpEndpoints();

builder.Build().Run();
