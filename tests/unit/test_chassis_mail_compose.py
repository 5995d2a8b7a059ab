"""Outgoing mail: 7-bit, standard MIME, threaded, and read back by our own parser unchanged."""

from __future__ import annotations

import datetime as dt
import re
from email import policy
from email.parser import BytesParser
from typing import Any

import pytest

from services.chassis.mail.compose import compose
from services.chassis.mail.model import MailAttachment
from services.chassis.mail.refs import make_message_id, normalise_message_id
from services.conversations.mail.parse import parse_mail
from services.conversations.mail.sanitize import sanitize_html

POLISH = "Zażółć gęślą jaźń"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


def reply(**changes: Any) -> bytes:
    arguments: dict[str, Any] = {
        "from_name": "Obsługa klienta",
        "from_address": "support@helpdesk.example",
        "to": [("Zofia Żółkiewska", "zofia@klient.pl")],
        "cc": [("Kowalski, Jan", "jan.kowalski@klient.pl")],
        "subject": "Re: Paczka nie dotarła",
        "text": f"Dzień dobry,\n\npaczka jest w drodze. {POLISH}.\n\nPozdrawiamy\nObsługa klienta\n",
        "message_id": "<reply-1@helpdesk.example>",
        "in_reply_to": "<AM6PR02MB4423@outlook.example>",
        "references": ["first-0001@helpdesk.example"],
        "ticket_id": 42,
    }
    arguments.update(changes)
    return compose(**arguments)


def test_bytes_are_7bit_with_crlf_lines_of_sane_length() -> None:
    raw = reply(text=POLISH * 40, html=f"<p>{POLISH * 40}</p>")
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_text_reply_round_trip() -> None:
    raw = reply()
    parsed = parse_mail(raw)
    assert parsed.message_id == "reply-1@helpdesk.example"
    assert parsed.in_reply_to == "AM6PR02MB4423@outlook.example"
    assert parsed.references == ["first-0001@helpdesk.example", "AM6PR02MB4423@outlook.example"]
    assert parsed.subject == "Re: Paczka nie dotarła [#42]"
    assert (parsed.from_name, parsed.from_address) == ("Obsługa klienta", "support@helpdesk.example")
    assert parsed.to == [("Zofia Żółkiewska", "zofia@klient.pl")]
    assert parsed.cc == [("Kowalski, Jan", "jan.kowalski@klient.pl")]
    assert parsed.text == f"Dzień dobry,\n\npaczka jest w drodze. {POLISH}.\n\nPozdrawiamy\nObsługa klienta"
    assert parsed.html is None
    assert parsed.attachments == []
    assert parsed.auto is None


def test_html_with_inline_image_and_attachments_round_trip() -> None:
    html = f'<p>Dzień dobry, <b>{POLISH}</b></p><p><img src="cid:logo@helpdesk.example" alt="logo"></p>'
    files = [
        MailAttachment("logo.png", "image/png", PNG, "logo@helpdesk.example", True),
        MailAttachment("faktura nr 12 żółta.pdf", "application/pdf", b"%PDF-1.4\n%\xe2\xe3\n"),
        MailAttachment("lista.csv", "text/csv", "nazwa;ilość\nłódka;2\n".encode()),
    ]
    parsed = parse_mail(reply(html=html, attachments=files))
    assert parsed.html == sanitize_html(html).html
    assert parsed.text.startswith("Dzień dobry,")
    assert [(a.filename, a.content_type, a.data, a.content_id, a.inline) for a in parsed.attachments] == [
        (a.filename, a.content_type, a.data, a.content_id, a.inline) for a in files
    ]
    structure = BytesParser(policy=policy.default).parsebytes(reply(html=html, attachments=files))
    assert [part.get_content_type() for part in structure.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "application/pdf",
        "text/csv",
    ]
    assert sum("MIME-Version" in part for part in structure.walk()) == 1


def test_inline_attachment_without_html_is_an_ordinary_attachment() -> None:
    image = MailAttachment("logo.png", "image/png", PNG, "logo@x", True)
    structure = BytesParser(policy=policy.default).parsebytes(reply(attachments=[image]))
    types = [part.get_content_type() for part in structure.walk()]
    assert types == ["multipart/mixed", "text/plain", "image/png"]


def test_alternative_without_attachments() -> None:
    structure = BytesParser(policy=policy.default).parsebytes(reply(html="<p>x</p>"))
    assert structure.get_content_type() == "multipart/alternative"


def test_subject_carries_the_ticket_once() -> None:
    assert parse_mail(reply(subject="Re: Re: Paczka [#42]")).subject == "Re: Re: Paczka [#42]"
    injected = parse_mail(reply(subject="Paczka\r\nBcc: evil@example.com"))
    assert injected.subject == "Paczka Bcc: evil@example.com [#42]"
    assert parse_mail(reply(ticket_id=None, subject="Hello")).subject == "Hello"


def test_notifications_are_marked_automatic_and_replies_are_not() -> None:
    notification = BytesParser(policy=policy.default).parsebytes(reply(auto=True))
    assert notification["Auto-Submitted"] == "auto-generated"
    assert notification["X-Auto-Response-Suppress"] == "All"
    agent = BytesParser(policy=policy.default).parsebytes(reply())
    assert "Auto-Submitted" not in agent and "X-Auto-Response-Suppress" not in agent
    assert parse_mail(reply(auto=True)).auto == "auto-reply"


def test_headers_date_and_extra_headers() -> None:
    when = dt.datetime(2024, 6, 3, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    raw = reply(date=when, extra_headers={"X-Helpdesk-Ticket": "42"}, reply_to=["replies@helpdesk.example"])
    parsed = parse_mail(raw)
    assert parsed.date == when
    assert parsed.reply_to == [("", "replies@helpdesk.example")]
    headers = BytesParser(policy=policy.default).parsebytes(raw)
    assert headers["X-Helpdesk-Ticket"] == "42"
    assert headers["MIME-Version"] == "1.0"
    with pytest.raises(ValueError, match="Message-ID"):
        reply(extra_headers={"Message-ID": "<other@x>"})


def test_long_threads_keep_their_root_and_stay_bounded() -> None:
    references = [f"m{i}@x" for i in range(60)]
    parsed = parse_mail(reply(references=references, in_reply_to="<m60@x>"))
    assert parsed.references[0] == "m0@x"
    assert parsed.references[-1] == "m60@x"
    assert len(parsed.references) == 20


def test_made_ids_survive_the_round_trip() -> None:
    made = make_message_id("helpdesk.example")
    assert parse_mail(reply(message_id=made)).message_id == normalise_message_id(made)


def test_international_domains_and_bad_addresses() -> None:
    parsed = parse_mail(reply(to=["jan@przykład.pl"], cc=[]))
    assert parsed.to == [("", "jan@xn--przykad-rjb.pl")]
    for bad in ("not-an-address", "@x.pl", "jan@"):
        with pytest.raises(ValueError):
            reply(to=[bad])
    with pytest.raises(ValueError):
        reply(to=[], cc=[])


def test_polish_text_in_quoted_printable() -> None:
    raw = reply()
    assert b"Content-Transfer-Encoding: quoted-printable" in raw
    assert re.search(rb"Dzie=C5=84 dobry", raw)
