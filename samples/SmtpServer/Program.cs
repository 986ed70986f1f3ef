using System.CommandLine;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Smtp;

var host = SampleHost.HostOption();
var port = SampleHost.PortOption(8025);
var maildir = new Option<string>("--maildir") { Description = "The Maildir (tmp/, new/, cur/) that receives the messages; envelopes go to its envelope/ folder", DefaultValueFactory = _ => "mail" };
var maxSize = new Option<int>("--max-size") { Description = "Largest message in bytes (SIZE; 552 above it; 0: no limit)", DefaultValueFactory = _ => SmtpServerOptions.DefaultDataSizeLimit };
var maxRecipients = new Option<int>("--max-recipients") { Description = "Recipients per message (452 past it)", DefaultValueFactory = _ => SmtpServerOptions.DefaultMaxRecipients };
var timeout = new Option<double>("--timeout") { Description = "Seconds a client may stay silent or take over one line before 421 and close (0: forever)", DefaultValueFactory = _ => SmtpServerOptions.DefaultTimeout.TotalSeconds };
var drainTimeout = SampleHost.DrainTimeoutOption();
maxSize.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--max-size: must be 0 or more"); });
maxRecipients.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--max-recipients: must be 1 or more"); });
timeout.Validators.Add(r => { if (r.GetValueOrDefault<double>() < 0) r.AddError("--timeout: must be 0 or more"); });
var cert = SampleTls.CertOption("announce STARTTLS and switch to TLS on it");
var key = SampleTls.KeyOption();
var noResume = SampleTls.NoResumeOption();
var requireTls = new Option<bool>("--require-tls") { Description = "Answer 530 to MAIL before STARTTLS (needs --cert and --key)" };
var command = new RootCommand("An SMTP server on Asyncore.AsyncChat in the manner of CPython's smtpd; delivers each message into a Maildir")
{
    host, port, maildir, maxSize, maxRecipients, timeout, drainTimeout, cert, key, noResume, requireTls,
};
command.SetAction(result =>
{
    if (!SampleTls.TryLoad(result, cert, key, noResume, alpn: null, out var tls))
    {
        return 2;
    }

    if (result.GetValue(requireTls) && tls is null)
    {
        Console.Error.WriteLine($"{AppDomain.CurrentDomain.FriendlyName}: --require-tls needs --cert and --key");
        return 2;
    }

    MaildirStore store;
    try
    {
        store = new MaildirStore(result.GetValue(maildir)!);
    }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine($"{AppDomain.CurrentDomain.FriendlyName}: cannot use --maildir {result.GetValue(maildir)}: {e.Message}");
        return 1;
    }

    double seconds = result.GetValue(timeout);
    var options = new SmtpServerOptions
    {
        DataSizeLimit = result.GetValue(maxSize),
        MaxRecipients = result.GetValue(maxRecipients),
        Timeout = seconds > 0 ? TimeSpan.FromSeconds(seconds) : null,
        Tls = tls,
        RequireTls = result.GetValue(requireTls),
        Delivered = (envelope, bytes, name) => Console.WriteLine(envelope.LogLine(bytes, name)),
    };
    if (SampleHost.Listen(SampleHost.EndPoint(result, host, port), at => new SmtpServer(at, store, options)) is not { } server)
    {
        return SampleHost.CannotListen;
    }

    if (store.StaleRemoved > 0)
    {
        Console.WriteLine($"removed {store.StaleRemoved} leftover file(s) older than {MaildirStore.StaleAge.TotalHours:0} hours from {Path.Combine(store.Path, "tmp")}");
    }

    Console.WriteLine($"SMTP on {server.Address}{(tls is null ? "" : " with STARTTLS")}{(options.RequireTls ? " (required)" : "")}, delivering to the Maildir {store.Path}; Ctrl+C stops");
    return SampleHost.RunUntilStopped(SampleHost.DrainTimeout(result, drainTimeout));
});
return SampleHost.Invoke(command, args);
