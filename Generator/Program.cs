KafkaPipeline.Generator.GeneratorApp.Create(args).Run();
