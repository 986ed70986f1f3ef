"""Sends mail to the SMTP sample with Python's smtplib and checks what lands in the --maildir Maildir.

usage: smtp_smoke.py PORT MAILDIR   (prints one "PASS name" / "FAIL name" line per check)
"""
import glob
import mailbox
import os
import smtplib
import sys
import time
from email.message import EmailMessage

port, maildir = int(sys.argv[1]), sys.argv[2]
results = []


def check(name, ok):
    results.append(ok)
    print(("PASS " if ok else "FAIL ") + name)


msg = EmailMessage()
msg["From"] = "ada@example.org"
msg["To"] = "bob@example.org"
msg["Subject"] = "smtplib to Asyncore"
msg.set_content("line one\n.starts with a dot\nGr\u00fc\u00dfe\n")
wire = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))

with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
    code, _ = s.ehlo("smoke.test")
    check("EHLO answers 250", code == 250)
    check("SIZE and 8BITMIME announced", s.has_extn("size") and s.has_extn("8bitmime"))
    refused = s.sendmail("ada@example.org", ["bob@example.org", "cy@example.org"], wire, mail_options=["BODY=8BITMIME"])
    check("both recipients accepted", refused == {})
    code, _ = s.docmd("VRFY", "<bob@example.org>")
    check("VRFY answers 252", code == 252)
    code, _ = s.docmd("BOGUS")
    check("an unknown command gets 500", code == 500)
    code, _ = s.docmd("RCPT", "TO:<x@y.z>")
    check("RCPT before MAIL gets 503", code == 503)

deadline = time.time() + 5
files = []
while time.time() < deadline and not files:
    files = glob.glob(os.path.join(maildir, "new", "*"))
    time.sleep(0.05)
check("one message delivered into the Maildir's new/", len(files) == 1)
check("nothing left in the Maildir's tmp/", glob.glob(os.path.join(maildir, "tmp", "*")) == [])
if files:
    data = open(files[0], "rb").read()
    check("the message arrived byte for byte", data == wire)
    name = os.path.basename(files[0])
    envelope = open(os.path.join(maildir, "envelope", name)).read()
    check("the envelope lists the sender and both recipients",
          envelope.startswith("MAIL FROM:<ada@example.org>") and "RCPT TO:<bob@example.org>\n" in envelope and "RCPT TO:<cy@example.org>\n" in envelope)
    box = mailbox.Maildir(maildir, factory=None, create=False)
    check("mailbox.Maildir reads it", list(box.keys()) == [name] and box[name]["Subject"] == "smtplib to Asyncore")
# Failed checks were printed; a non-zero exit means the script itself crashed.
sys.exit(0)
