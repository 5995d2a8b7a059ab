"""Outgoing mail as the bytes a relay accepts: agent replies and notifications.

:func:`compose` writes a standard MIME message with CRLF line ends and only 7-bit bytes
(text parts quoted-printable, files base64, non-ASCII headers RFC 2047 and RFC 2231), so
any relay takes it, with or without 8BITMIME. Its shape follows what is given:

* text only: one ``text/plain`` part; with ``html``: ``multipart/alternative``;
* inline attachments (``inline=True`` with a ``content_id``) go with the HTML into
  ``multipart/related`` (without HTML they are ordinary attachments);
* other attachments: ``multipart/mixed`` around all of it.

A ``ticket_id`` puts ``[#id]`` at the end of the subject (once). A reply names its parent
in ``In-Reply-To`` and ``References`` (the parent's references plus the parent, trimmed by
:func:`~.refs.build_references`). ``auto=True`` marks mail no person wrote (notifications):
``Auto-Submitted: auto-generated`` and ``X-Auto-Response-Suppress: All``, so well-behaved
auto-responders stay quiet. Agent replies are human replies and carry neither.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from email import policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime

from services.chassis.mail.model import Address, MailAttachment, is_mail_address
from services.chassis.mail.refs import build_references, normalise_message_id, subject_with_ref

Recipient = Address | str
"""``(name, address)`` or a bare address."""

OUTGOING_POLICY = policy.SMTP.clone(cte_type="7bit", max_line_length=78)

_RESERVED = {
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "auto-submitted",
    "x-auto-response-suppress",
}


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _header_address(name: str, address: str) -> HeaderAddress:
    """An address the header folder can write: ASCII local part, IDNA domain."""
    address = address.strip()
    if not is_mail_address(address):
        raise ValueError(f"not a mail address: {address!r}")
    local, _, domain = address.rpartition("@")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    return HeaderAddress(display_name=_one_line(name), username=local, domain=domain)


def _mime_type(content_type: str) -> tuple[str, str]:
    maintype, _, subtype = content_type.strip().lower().partition("/")
    if not maintype or not subtype or maintype == "multipart":
        return "application", "octet-stream"
    return maintype, subtype


def _addresses(recipients: Sequence[Recipient]) -> list[HeaderAddress]:
    found = []
    for recipient in recipients:
        name, address = ("", recipient) if isinstance(recipient, str) else recipient
        found.append(_header_address(name, address))
    return found


def _set_addresses(
    msg: EmailMessage,
    *,
    sender: HeaderAddress,
    to: Sequence[Recipient],
    cc: Sequence[Recipient],
    reply_to: Sequence[Recipient],
) -> None:
    msg["From"] = sender
    for name, recipients in (("To", to), ("Cc", cc), ("Reply-To", reply_to)):
        if recipients:
            msg[name] = _addresses(recipients)


def _set_thread(msg: EmailMessage, own_id: str, in_reply_to: str | None, references: Sequence[str]) -> None:
    """``Message-ID``, and for a reply ``In-Reply-To`` and ``References``."""
    msg["Message-ID"] = f"<{own_id}>"
    parent = normalise_message_id(in_reply_to)
    if parent:
        msg["In-Reply-To"] = f"<{parent}>"
    thread = build_references(list(references), parent)
    if thread:
        msg["References"] = " ".join(f"<{i}>" for i in thread)


def _set_extra(msg: EmailMessage, extra_headers: Mapping[str, str]) -> None:
    for name, value in extra_headers.items():
        if name.strip().lower() in _RESERVED:
            raise ValueError(f"compose writes {name} itself")
        msg[name] = _one_line(value)


def _add_html(msg: EmailMessage, html: str, inline: Sequence[MailAttachment]) -> None:
    """Make ``msg`` ``multipart/alternative`` with ``html``; ``inline`` files go ``related`` to it."""
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    html_part = msg.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, MIMEPart)
    for item in inline:
        maintype, subtype = _mime_type(item.content_type)
        html_part.add_related(
            item.data,
            maintype,
            subtype,
            cid=f"<{item.content_id}>",
            filename=item.filename,
            disposition="inline",
        )


def _set_body(msg: EmailMessage, text: str, html: str | None, attachments: Sequence[MailAttachment]) -> None:
    """The parts: text, then the HTML alternative with its inline files, then the other files."""
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    files = list(attachments)
    if html is not None:
        inline = [a for a in attachments if a.inline and a.content_id]
        files = [a for a in attachments if not (a.inline and a.content_id)]
        _add_html(msg, html, inline)
    for item in files:
        maintype, subtype = _mime_type(item.content_type)
        msg.add_attachment(item.data, maintype, subtype, filename=item.filename)
    for part in msg.walk():
        if part is not msg and "MIME-Version" in part:
            del part["MIME-Version"]


# Sixteen keyword-only arguments, one per header or part of the message, as callers think of a
# mail; grouping them into an object would only rename the same fields. Nothing is positional.
def compose(  # noqa: PLR0913
    *,
    from_name: str,
    from_address: str,
    to: Sequence[Recipient],
    cc: Sequence[Recipient] = (),
    subject: str,
    text: str,
    html: str | None = None,
    message_id: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    attachments: Sequence[MailAttachment] = (),
    extra_headers: Mapping[str, str] | None = None,
    ticket_id: int | None = None,
    auto: bool = False,
    reply_to: Sequence[Recipient] = (),
    date: dt.datetime | None = None,
) -> bytes:
    """The complete message (see the module docstring); raises ValueError on a bad address or header.

    ``message_id`` may be given with or without angle brackets (``make_message_id`` makes one).
    ``extra_headers`` may not replace the headers ``compose`` writes itself.
    """
    if not to and not cc:
        raise ValueError("a mail needs at least one recipient")
    own_id = normalise_message_id(message_id)
    if not own_id:
        raise ValueError("a mail needs a Message-ID")
    msg = EmailMessage(policy=OUTGOING_POLICY)
    _set_addresses(msg, sender=_header_address(from_name, from_address), to=to, cc=cc, reply_to=reply_to)
    subject = _one_line(subject)
    msg["Subject"] = subject_with_ref(subject, ticket_id) if ticket_id is not None else subject
    msg["Date"] = format_datetime((date or dt.datetime.now(dt.UTC)).astimezone(dt.UTC))
    _set_thread(msg, own_id, in_reply_to, references)
    if auto:
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
    _set_extra(msg, extra_headers or {})
    _set_body(msg, text, html, attachments)
    return msg.as_bytes()
