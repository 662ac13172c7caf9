using KafkaPipeline.Lake;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
var stdout = new StreamWriter(Console.OpenStandardOutput(), new System.Text.UTF8Encoding(false)) { AutoFlush = false };
var code = await LakeCommand.RunAsync(args, stdout, Console.Error, cancel.Token);
await stdout.FlushAsync();
return code;
