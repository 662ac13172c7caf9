KafkaPipeline.MySqlSinkService.MySqlSinkApp.Create(args).Run();
