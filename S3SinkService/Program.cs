KafkaPipeline.S3SinkService.S3SinkApp.Create(args).Run();
