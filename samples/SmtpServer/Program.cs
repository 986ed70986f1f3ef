using System.CommandLine;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Smtp;

var host = SampleHost.HostOption();
var port = SampleHost.PortOption(8025);
var maildir = new Option<string>("--maildir") { Description = "The Maildir (tmp/, new/, cur/) that receives the messages; envelopes go to its envelope/ folder", DefaultValueFactory = _ => "mail" };
var maxSize = SampleHost.NumberOption("--max-size", "Largest message in bytes (SIZE; 552 above it; 0: no limit)", SmtpServerOptions.DefaultDataSizeLimit, 0, int.MaxValue);
var maxRecipients = SampleHost.NumberOption("--max-recipients", "Recipients per message (452 past it)", SmtpServerOptions.DefaultMaxRecipients, 1, int.MaxValue);
var timeout = SampleHost.NumberOption("--timeout", "Seconds a client may stay silent or take over one line before 421 and close (0: forever)", SmtpServerOptions.DefaultTimeout.TotalSeconds, 0, 86400);
var drainTimeout = SampleHost.DrainTimeoutOption();
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
        return SampleHost.BadCommandLine;
    }

    if (result.GetValue(requireTls) && tls is null)
    {
        return SampleHost.SayBadCommandLine("--require-tls needs --cert and --key");
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

    return SampleHost.RunUntilStopped(
        SampleHost.DrainTimeout(result, drainTimeout),
        () =>
        {
            if (store.StaleRemoved > 0)
            {
                Console.WriteLine($"removed {store.StaleRemoved} leftover file(s) older than {MaildirStore.StaleAge.TotalHours:0} hours from {Path.Combine(store.Path, "tmp")}");
            }

            Console.WriteLine($"SMTP on {server.Address}{(tls is null ? "" : " with STARTTLS")}{(options.RequireTls ? " (required)" : "")}, delivering to the Maildir {store.Path}; Ctrl+C stops");
        });
});
return SampleHost.Invoke(command, args);
