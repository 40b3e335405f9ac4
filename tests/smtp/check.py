"""Drives a running API server whose mail goes to a local aiosmtpd Mailbox (see run.sh).

    python check.py <base-url> <maildir>

Signs up a user, asks for a password reset for an unknown address and then for the user, waits
(polling, with a deadline) for the message in the Maildir, checks its envelope, headers and body,
opens the mailed link (302 to the callback with ?token=), completes the reset with that token and
signs in with the new password. Exits non-zero on the first failure. Standard library only;
talks to the loopback server given on the command line and nowhere else.
"""

import email
import email.policy
import json
import mailbox
import re
import secrets
import sys
import time
import urllib.error
import urllib.request

MAIL_FROM = "no-reply@example.com"
PASSWORD = "correct horse battery"
NEW_PASSWORD = "a new smtp password"
DEADLINE_S = 20


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def fail(message):
    print(f"smtp check: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


def request(method, url, body=None):
    """Returns (status, headers, text) without following redirects or raising on 4xx/5xx."""
    data = None
    headers = {}
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with OPENER.open(req, timeout=15) as res:
            return res.status, res.headers, res.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


def messages(maildir):
    box = mailbox.Maildir(maildir, factory=None, create=False)
    out = []
    for key in box.keys():
        with box.get_file(key) as handle:
            out.append(email.message_from_binary_file(handle, policy=email.policy.default))
    return out


def wait_for_message(maildir, to):
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            found = [m for m in messages(maildir) if str(m["To"]) == to]
        except (FileNotFoundError, mailbox.NoSuchMailboxError):
            found = []
        if found:
            return found
        if time.monotonic() > deadline:
            fail(f"no message to {to} in {maildir} within {DEADLINE_S} s")
        time.sleep(0.05)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    base, maildir = sys.argv[1].rstrip("/"), sys.argv[2]
    auth = f"{base}/api/auth"
    address = f"smtp-{secrets.token_hex(6)}@example.com"
    unknown = f"nobody-{secrets.token_hex(6)}@example.com"

    status, _, text = request("POST", f"{auth}/sign-up/email", {"name": "Smtp", "email": address, "password": PASSWORD})
    expect(status == 200, f"sign-up answered {status}: {text}")

    answers = []
    for who in (unknown, address):
        status, _, text = request("POST", f"{auth}/request-password-reset", {"email": who, "redirectTo": "/reset"})
        expect(status == 200, f"request-password-reset for {who} answered {status}: {text}")
        answers.append(text)
    expect(answers[0] == answers[1], f"unknown and known addresses got different answers: {answers}")

    found = wait_for_message(maildir, address)
    expect(len(found) == 1, f"expected one message to {address}, got {len(found)}")
    message = found[0]
    expect(str(message["From"]) == MAIL_FROM, f"From is {message['From']!r}")
    expect(str(message["Subject"]) == "Reset your password", f"Subject is {message['Subject']!r}")
    # aiosmtpd's Mailbox records the SMTP envelope too.
    expect(str(message["X-MailFrom"]) == MAIL_FROM, f"envelope sender is {message['X-MailFrom']!r}")
    expect(address in str(message["X-RcptTo"]), f"envelope recipients are {message['X-RcptTo']!r}")
    body = message.get_body(("plain",)).get_content()
    link = re.search(re.escape(f"{auth}/reset-password/") + r"([A-Za-z0-9]+)\?callbackURL=(\S*)", body)
    expect(link is not None, f"no {auth}/reset-password/ link in the body:\n{body}")
    token = link.group(1)
    expect(link.group(2) == "%2Freset", f"callbackURL in the link is {link.group(2)!r}")

    status, headers, text = request("GET", link.group(0))
    expect(status == 302, f"opening the link answered {status}: {text}")
    expect(headers["location"] == f"{base}/reset?token={token}", f"the link redirects to {headers['location']!r}")

    status, _, text = request("POST", f"{auth}/reset-password", {"newPassword": NEW_PASSWORD, "token": token})
    expect(status == 200 and json.loads(text) == {"status": True}, f"reset-password answered {status}: {text}")
    status, _, text = request("POST", f"{auth}/sign-in/email", {"email": address, "password": NEW_PASSWORD})
    expect(status == 200, f"sign-in with the new password answered {status}: {text}")

    everything = messages(maildir)
    expect(len(everything) == 1, f"expected exactly one message in the sink, got {len(everything)}")
    expect(not any(unknown in str(m["To"]) for m in everything), "a message went to the unknown address")
    print(f"smtp check: ok (message to {address} via SMTP, link valid, reset done)")


if __name__ == "__main__":
    main()
