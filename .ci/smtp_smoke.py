"""Sends mail to the SMTP sample with Python's smtplib and checks what lands in --maildir.

usage: smtp_smoke.py PORT MAILDIR   (prints one "PASS name" / "FAIL name" line per check)
"""
import glob
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
    files = glob.glob(os.path.join(maildir, "*.eml"))
    time.sleep(0.05)
check("one message delivered", len(files) == 1)
if files:
    data = open(files[0], "rb").read()
    check("the message arrived byte for byte", data == wire)
    envelope = open(files[0][:-4] + ".envelope").read()
    check("the envelope lists both recipients", "RCPT TO: bob@example.org" in envelope and "RCPT TO: cy@example.org" in envelope)
# Failed checks were printed; a non-zero exit means the script itself crashed.
sys.exit(0)
