KafkaPipeline.Dashboard.DashboardApp.Create(args).Run();
