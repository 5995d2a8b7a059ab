"""The values the mail package hands out: plain frozen dataclasses, nothing to call on them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.chassis.mail.model import Address, MailAttachment

__all__ = ["Address", "Bounce", "InboundMail", "MailAttachment"]


@dataclass(frozen=True)
class Bounce:
    """A delivery failure report about a mail we sent.

    ``status`` is the RFC 3463 code (``5.1.1``; ``5.0.0`` when the report names none),
    ``diagnostic`` the remote server's words, ``recipient`` the address that failed.
    """

    original_message_id: str | None
    status: str
    diagnostic: str
    recipient: str | None = None


@dataclass(frozen=True)
class InboundMail:
    """One received mail, decoded and made safe to show.

    ``message_id`` is normalised (no angle brackets); a mail without one gets a synthetic id
    derived from a hash of its bytes, so a redelivery of the same bytes keeps the same id.
    ``text`` is the new text (what lists and previews show) and ``quoted`` the history under
    it; ``text + quoted`` is the whole text body. ``html`` is sanitised, or None for a mail that
    came without HTML. ``auto`` is None for mail a person wrote, else ``auto-reply``, ``bulk``,
    ``list`` or ``bounce``; ``bounce`` carries the details of a delivery failure.
    """

    message_id: str
    in_reply_to: str | None
    references: list[str]
    subject: str
    from_name: str
    from_address: str
    to: list[Address]
    cc: list[Address]
    reply_to: list[Address]
    date: dt.datetime | None
    text: str
    quoted: str
    html: str | None
    attachments: list[MailAttachment]
    auto: str | None
    bounce: Bounce | None
    headers: dict[str, str]
    remote_images_blocked: int = 0
