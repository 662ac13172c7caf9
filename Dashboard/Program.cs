using KafkaPipeline.Dashboard;

// The Dashboard: the CEO's live screen at / and the topic browser at /kafka, both fed from Kafka.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    Args = args,
    // The pages and npm assets are copied next to the program (Dashboard.csproj), wherever it runs from.
    WebRootPath = Path.Combine(AppContext.BaseDirectory, "wwwroot"),
});
builder.AddServiceDefaults();
builder.AddDashboard();

var app = builder.Build();
app.UseFileServer();
app.MapDashboardApi();
app.MapKafkaBrowserApi();
app.MapDefaultEndpoints();
app.Run();
