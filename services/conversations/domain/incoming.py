"""A message arriving from a customer, whatever the channel, as the store records it.

Email, chat and form all become an :class:`Incoming`: who wrote, to whom, the text (new
text and quoted history apart), sanitised HTML, the ids that thread it, and whether it is
automatic mail (which is recorded but never reopens, raises unread or notifies).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.chassis.schema import clean_text
from services.conversations.mail.model import Address, InboundMail
from services.conversations.mail.quote import split_quoted
from services.conversations.mail.refs import ticket_ref_in_subject

NO_SUBJECT = "(no subject)"
NAME_LENGTH = 120


@dataclass(frozen=True)
class File:
    """An attachment's description once its bytes are in the blob store under ``key``."""

    filename: str
    content_type: str
    size: int
    key: str
    content_id: str | None = None
    inline: bool = False


@dataclass(frozen=True)
class Incoming:
    channel: str
    sender_email: str
    sender_name: str
    subject: str
    text: str
    quoted: str = ""
    html: str | None = None
    to: Sequence[Address] = ()
    cc: Sequence[Address] = ()
    email_message_id: str | None = None
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    auto: str | None = None
    bounce_of: str | None = None
    bounce_reason: str | None = None
    thread_id: int | None = None
    files: Sequence[File] = field(default_factory=tuple)

    @property
    def referenced_ids(self) -> list[str]:
        """Ids this message answers, oldest first, the direct parent last (for a bounce: our
        message it reports, so the bounce is recorded on that message's thread)."""
        ids = [*self.references, *([self.in_reply_to] if self.in_reply_to else [])]
        if self.bounce_of:
            ids.append(self.bounce_of)
        return list(dict.fromkeys(i for i in ids if i))

    @property
    def ticket_ref(self) -> int | None:
        return ticket_ref_in_subject(self.subject) if self.channel == "email" else None


def from_mail(mail: InboundMail, files: Sequence[File]) -> Incoming:
    """An email as the store records it; a bounce names the message of ours that failed."""
    bounce = mail.bounce
    return Incoming(
        channel="email",
        sender_email=mail.from_address,
        sender_name=mail.from_name,
        subject=mail.subject,
        text=mail.text,
        quoted=mail.quoted,
        html=mail.html,
        to=mail.to,
        cc=mail.cc,
        email_message_id=mail.message_id,
        in_reply_to=mail.in_reply_to,
        references=mail.references,
        auto=mail.auto,
        bounce_of=bounce.original_message_id if bounce else None,
        bounce_reason=f"{bounce.status} {bounce.diagnostic}".strip() if bounce else None,
        files=files,
    )


def from_intake(
    *, channel: str, email: str, name: str, subject: str, body: str, thread_id: int | None
) -> Incoming:
    """A chat or form message; its text is split into new text and quoted history like mail."""
    new, quoted = split_quoted(body)
    return Incoming(
        channel=channel,
        sender_email=email.strip().lower(),
        sender_name=name,
        subject=subject,
        text=new,
        quoted=quoted,
        thread_id=thread_id,
    )


def ticket_fields(channel: str, subject: str, first_text: str) -> dict[str, str]:
    """Name, description and source of the ticket a new thread gets."""
    name = clean_text(subject)[:500].strip() or clean_text(first_text)[:NAME_LENGTH].strip() or NO_SUBJECT
    return {"name": name, "description": first_text[:100_000], "source": channel}


def plain_ticket_fields(channel: str) -> dict[str, str]:
    """The ticket of a new thread whose own fields were refused: a plain name, no description."""
    return {"name": NO_SUBJECT, "description": "", "source": channel}


def utc(moment: dt.datetime | None, fallback: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC) if moment is not None and moment.tzinfo else fallback
