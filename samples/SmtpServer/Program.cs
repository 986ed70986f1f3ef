using System.CommandLine;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Smtp;

var host = SampleHost.HostOption();
var port = SampleHost.PortOption(8025);
var maildir = new Option<string>("--maildir") { Description = "Folder that receives one .eml file per message", DefaultValueFactory = _ => "mail" };
var maxSize = new Option<int>("--max-size") { Description = "Largest message in bytes (SIZE; 552 above it)", DefaultValueFactory = _ => SmtpServer.DefaultDataSizeLimit };
var command = new RootCommand("An SMTP server on Asyncore.AsyncChat in the manner of CPython's smtpd; writes each message to --maildir")
{
    host, port, maildir, maxSize,
};
command.SetAction(result =>
{
    string folder = Path.GetFullPath(result.GetValue(maildir)!);
    Directory.CreateDirectory(folder);
    int counter = 0;
    var server = new SmtpServer(
        SampleHost.EndPoint(result, host, port),
        message =>
        {
            string name = $"{DateTime.UtcNow:yyyyMMddTHHmmssfff}-{Environment.ProcessId}-{++counter}";
            File.WriteAllBytes(Path.Combine(folder, name + ".eml"), message.Data);
            File.WriteAllLines(Path.Combine(folder, name + ".envelope"), [$"MAIL FROM: {message.MailFrom}", .. message.RcptTos.Select(r => $"RCPT TO: {r}")]);
            Console.WriteLine($"{message.Peer}: {message.MailFrom} -> {string.Join(", ", message.RcptTos)}, {message.Data.Length} bytes -> {name}.eml");
            return null;
        },
        result.GetValue(maxSize));
    Console.WriteLine($"SMTP on {server.Address}, delivering to {folder}; Ctrl+C stops");
    return SampleHost.RunUntilStopped();
});
return command.Parse(args).Invoke();
