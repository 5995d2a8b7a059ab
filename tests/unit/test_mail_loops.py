"""Automatic mail is recognised (so it never starts a loop) and bounces name the mail that failed."""

from __future__ import annotations

from email import policy
from email.message import Message
from email.parser import BytesParser
from pathlib import Path

import pytest

from services.conversations.mail.loops import auto_reason, parse_bounce

SAMPLES = Path(__file__).parent / "mail_samples"


def message(headers: str, body: str = "Hello\n") -> Message:
    raw = ("\r\n".join(line.strip() for line in headers.strip().splitlines()) + "\r\n\r\n" + body).encode()
    return BytesParser(policy=policy.default).parsebytes(raw)


def sample(name: str) -> Message:
    return BytesParser(policy=policy.default).parsebytes((SAMPLES / name).read_bytes())


PERSON = "From: Anna <anna@example.com>\nTo: support@helpdesk.example\nSubject: Where is my parcel?"


def test_mail_a_person_wrote_is_not_automatic() -> None:
    assert auto_reason(message(PERSON), "anna@example.com") is None
    assert auto_reason(message(PERSON + "\nAuto-Submitted: no"), "anna@example.com") is None
    assert auto_reason(message(PERSON + "\nX-Autoreply: no"), None) is None
    assert auto_reason(message(PERSON.replace("Where is my parcel?", "Absence of invoice")), None) is None
    assert auto_reason(sample("gmail_reply.eml"), "anna.smith@gmail.example") is None


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Auto-Submitted: auto-replied", "auto-reply"),
        ("Auto-Submitted: auto-generated", "auto-reply"),
        ("Auto-Submitted: Auto-Notified; owner-email=x@y", "auto-reply"),
        ("X-Autoreply: yes", "auto-reply"),
        ("X-Autorespond: Out of office", "auto-reply"),
        ("X-Auto-Response-Suppress: All", "auto-reply"),
        ("X-Auto-Response-Suppress: DR, OOF, AutoReply", "auto-reply"),
        ("Precedence: auto_reply", "auto-reply"),
        ("Precedence: bulk", "bulk"),
        ("Precedence: junk", "bulk"),
        ("Precedence: list", "list"),
        ("List-Id: Shop news <news.shop.example>", "list"),
        ("List-Unsubscribe: <mailto:unsubscribe@shop.example>", "list"),
        ("X-Failed-Recipients: nobody@klient.pl", "bounce"),
        ("Return-Path: <>", "auto-reply"),
    ],
)
def test_automatic_headers(header: str, reason: str) -> None:
    assert auto_reason(message(f"{PERSON}\n{header}"), "anna@example.com") == reason


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Where is my parcel? [#7]",
        "Out of Office: Where is my parcel?",
        "Odpowiedź automatyczna: Re: Faktura [#77]",
        "Autoodpowiedź: Re: Faktura",
        "Abwesenheitsnotiz: Paket",
        "AutoReply",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    assert auto_reason(message(f"From: a@example.com\nSubject: {subject}"), "a@example.com") == "auto-reply"


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example", "postmaster@example.com", "Mailer-Daemon@x"])
def test_system_senders_are_bounces(sender: str) -> None:
    assert auto_reason(message(f"From: {sender}\nSubject: hello"), None) == "bounce"
    assert auto_reason(message("From: a@example.com\nSubject: hello"), sender) == "bounce"


def test_null_envelope_sender_is_automatic() -> None:
    assert auto_reason(message(PERSON), "") == "auto-reply"
    assert auto_reason(message(PERSON), "<>") == "auto-reply"


def test_samples() -> None:
    assert auto_reason(sample("out_of_office.eml"), "marek@firma.example") == "auto-reply"
    assert auto_reason(sample("list_mail.eml"), "news@shop.example") == "list"
    assert auto_reason(sample("dsn_bounce.eml"), "") == "bounce"


def test_rfc3464_report() -> None:
    bounce = parse_bounce(sample("dsn_bounce.eml"))
    assert bounce is not None
    assert bounce.original_message_id == "d4e5f60718293a4b5c6d7e8f90a1b2c3@helpdesk.example"
    assert bounce.status == "5.1.1"
    assert bounce.recipient == "nobody@klient.pl"
    assert bounce.diagnostic == "550 5.1.1 <nobody@klient.pl>: Recipient address rejected: User unknown"


REPORT = """From: MAILER-DAEMON@mx.example
To: support@helpdesk.example
Subject: Delivery Status Notification
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="r"

--r
Content-Type: text/plain

Your message was not delivered.

--r
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}

--r
Content-Type: message/rfc822

From: support@helpdesk.example
To: {recipient}
Subject: Re: Paczka [#42]
Message-ID: <sent-1@helpdesk.example>

Agent reply.

--r--
"""


def report(action: str, status: str, recipient: str = "zofia@klient.pl") -> Message:
    raw = REPORT.format(action=action, status=status, recipient=recipient).replace("\n", "\r\n").encode()
    return BytesParser(policy=policy.default).parsebytes(raw)


def test_report_with_the_original_message_attached() -> None:
    bounce = parse_bounce(report("failed", "5.2.2 (mailbox full)"))
    assert bounce is not None
    assert (bounce.original_message_id, bounce.status, bounce.recipient) == (
        "sent-1@helpdesk.example",
        "5.2.2",
        "zofia@klient.pl",
    )


def test_delay_and_success_reports_are_no_bounces_but_still_automatic() -> None:
    assert parse_bounce(report("delayed", "4.4.7")) is None
    assert parse_bounce(report("delivered", "2.0.0")) is None
    assert auto_reason(report("delayed", "4.4.7"), "") == "bounce"


QMAIL = """From: MAILER-DAEMON@mail.klient.pl
To: support@helpdesk.example
Subject: failure notice

Hi. This is the qmail-send program at mail.klient.pl.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<nobody@klient.pl>:
192.0.2.20 does not like recipient.
Remote host said: 550 5.1.1 <nobody@klient.pl>... User unknown
Giving up on 192.0.2.20.

--- Below this line is a copy of the message.

Return-Path: <support@helpdesk.example>
From: Help Desk <support@helpdesk.example>
To: nobody@klient.pl
Subject: Re: Paczka [#42]
Message-ID: <sent-2@helpdesk.example>

Agent reply.
"""


def test_free_text_bounce_with_quoted_headers() -> None:
    msg = BytesParser(policy=policy.default).parsebytes(QMAIL.replace("\n", "\r\n").encode())
    bounce = parse_bounce(msg)
    assert bounce is not None
    assert bounce.original_message_id == "sent-2@helpdesk.example"
    assert bounce.status == "5.1.1"
    assert bounce.recipient == "nobody@klient.pl"
    assert "User unknown" in bounce.diagnostic
    assert auto_reason(msg, "") == "bounce"


def test_exim_style_bounce_with_x_failed_recipients() -> None:
    msg = message(
        "From: Mail Delivery System <Mailer-Daemon@mx.example>"
        "\nSubject: Mail delivery failed: returning message"
        "\nX-Failed-Recipients: Nobody@Klient.pl\nAuto-Submitted: auto-replied",
        "This message was created automatically by mail delivery software.\n\n"
        "  nobody@klient.pl\n    SMTP error from remote mail server after RCPT TO:<nobody@klient.pl>:\n"
        "    550 No such user\n",
    )
    bounce = parse_bounce(msg)
    assert bounce is not None
    assert (bounce.status, bounce.recipient) == ("5.0.0", "nobody@klient.pl")
    assert bounce.original_message_id is None


def test_mail_that_is_no_bounce() -> None:
    assert parse_bounce(message(PERSON)) is None
    assert parse_bounce(sample("out_of_office.eml")) is None
    assert parse_bounce(message("From: anna@example.com\nSubject: Undeliverable: my mood", "ha")) is None
    warning = message("From: MAILER-DAEMON@mx.example\nSubject: Delayed Mail", "Status: 4.4.7 still trying")
    assert parse_bounce(warning) is None
