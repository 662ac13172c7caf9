// The pipeline as an Aspire distributed application: PostgreSQL -> SourceService -> Kafka -> MySqlSinkService (MySQL)
// and S3SinkService (LocalStack S3), fed by the Generator. `dotnet run --project AppHost` (or F5) starts the containers
// and the four services and opens the dashboard (logs, traces, metrics of every service).
//
// Written against Aspire 13.5.2 without being able to restore it (no Aspire packages on the project's machines).
// Checked against the microsoft/aspire source at tag v13.5.2 (src/*/api/*.cs and the implementations), and compiled
// against stubs generated from those api files: every call below, its overload and its parameter names.
// NOT verified (needs Docker and nuget.org):
// - that the generated Projects.* metadata, DCP and the dashboard behave as expected when run;
// - the container images at run time: postgres:18.3 with "-c" args and the init script, confluent-local 8.2.0,
//   mysql:9.7 with MySql.Data 8.0.16 (caching_sha2_password over TLS, the driver's default SslMode=Preferred),
//   obsidiandynamics/kafdrop:4.2.0 (tag published by kafdrop's release workflow) reaching kafka:9093 over the
//   container network, localstack/localstack:4.12.0 answering /_localstack/health without an auth token;
// - that each service starts and turns healthy with the connection strings Aspire generates.

using Microsoft.Extensions.Configuration;

var builder = DistributedApplication.CreateBuilder(args);

// Passwords are secret parameters: set Parameters:postgres-password / Parameters:mysql-password (user secrets or
// environment) to choose them; otherwise one is generated on first run and kept in the AppHost's user secrets.
// No special characters, so they never need quoting inside a connection string.
var postgresPassword = builder.AddParameter(
    "postgres-password", new GenerateParameterDefault { MinLength = 22, Special = false }, secret: true, persist: true);
var mysqlPassword = builder.AddParameter(
    "mysql-password", new GenerateParameterDefault { MinLength = 22, Special = false }, secret: true, persist: true);

// PostgreSQL (source of users). Logical WAL and commit timestamps let a change-capture source use pgoutput logical
// replication; the image passes arguments starting with "-" to the postgres server. The init script allows
// replication connections from outside the container (the image's pg_hba.conf admits normal connections only).
var postgres = builder.AddPostgres("postgres", password: postgresPassword)
    .WithArgs("-c", "wal_level=logical", "-c", "track_commit_timestamp=on")
    .WithInitFiles("postgres-init");
if (builder.Configuration.GetValue<bool>("AppHost:UsePgAdmin"))
{
    postgres.WithPgAdmin();
}
var usersdb = postgres.AddDatabase("usersdb", databaseName: "TEST");

// Kafka (KRaft, confluent-local). Host processes get "localhost:<port>" as ConnectionStrings__kafka; containers use
// the internal listener kafka:9093.
var kafka = builder.AddKafka("kafka");

// Kafdrop: web UI for topics, partitions, consumer groups and messages, on Kafka's internal (container) listener.
builder.AddContainer("kafdrop", "obsidiandynamics/kafdrop", "4.2.0")
    .WithHttpEndpoint(targetPort: 9000, name: "http")
    .WithEnvironment("KAFKA_BROKERCONNECT",
        $"{kafka.Resource.Name}:{kafka.Resource.InternalEndpoint.Property(EndpointProperty.TargetPort)}")
    .WithHttpHealthCheck("/actuator/health")
    .WaitFor(kafka);

// MySQL (the e-mail database the MySQL sink writes). User root, password from the parameter.
var emaildb = builder.AddMySql("mysql", password: mysqlPassword)
    .AddDatabase("emaildb", databaseName: "TEST");

// LocalStack for S3. Pinned: images after 4.12 need a LocalStack auth token. S3 accepts any credentials.
var localstack = builder.AddContainer("localstack", "localstack/localstack", "4.12.0")
    .WithHttpEndpoint(targetPort: 4566, name: "http")
    .WithEnvironment("SERVICES", "s3")
    .WithHttpHealthCheck("/_localstack/health");

// The services. Each gets exactly the settings it reads, under the names the local run uses
// (ConnectionStrings__usersdb / __kafka / __emaildb, S3__*), and starts once those servers are healthy.
// Launch profiles are ignored so the endpoint below is the only one; Aspire passes it in ASPNETCORE_URLS and polls
// /health (ServiceDefaults' MapDefaultEndpoints) for the dashboard's health column.
builder.AddProject<Projects.Generator>("generator", o => o.ExcludeLaunchProfile = true)
    .WithHttpEndpoint()
    .WithHttpHealthCheck("/health")
    .WithReference(usersdb).WaitFor(usersdb);

builder.AddProject<Projects.SourceService>("source", o => o.ExcludeLaunchProfile = true)
    .WithHttpEndpoint()
    .WithHttpHealthCheck("/health")
    .WithReference(usersdb).WaitFor(usersdb)
    .WithReference(kafka).WaitFor(kafka);

builder.AddProject<Projects.MySqlSinkService>("mysql-sink", o => o.ExcludeLaunchProfile = true)
    .WithHttpEndpoint()
    .WithHttpHealthCheck("/health")
    .WithReference(kafka).WaitFor(kafka)
    .WithReference(emaildb).WaitFor(emaildb);

builder.AddProject<Projects.S3SinkService>("s3-sink", o => o.ExcludeLaunchProfile = true)
    .WithHttpEndpoint()
    .WithHttpHealthCheck("/health")
    .WithReference(kafka).WaitFor(kafka)
    .WithEnvironment("S3__ServiceUrl", localstack.GetEndpoint("http"))
    .WithEnvironment("S3__Bucket", "users-lake")
    // Not secrets: LocalStack accepts any key pair; these are its documented dev defaults.
    .WithEnvironment("S3__AccessKey", "test")
    .WithEnvironment("S3__SecretKey", "test")
    .WaitFor(localstack);

builder.Build().Run();
