KafkaPipeline.Monitor.MonitorApp.Create(args).Run();
