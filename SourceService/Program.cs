KafkaPipeline.SourceService.SourceApp.Create(args).Run();
