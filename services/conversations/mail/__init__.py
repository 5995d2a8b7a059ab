"""The email layer of the conversations service: plain Python, no nameko, no database.

Every module keeps one promise:

* :mod:`.parse` - ``parse_mail(raw, limits)`` turns the exact bytes received into an
  :class:`~.model.InboundMail` or raises :class:`~.limits.MailRejected`, nothing else,
  whatever the sender put in them (any charset, broken MIME, hostile HTML).
* :mod:`.limits` - :class:`~.limits.MailLimits`, :class:`~.limits.MailRejected` (with the
  SMTP reply to give) and ``check_limits``: a linear scan, cheap enough for the SMTP edge
  to run before it answers 250.
* :mod:`.quote` - ``split_quoted(text)`` separates the new text from the quoted history
  under it (English, Polish, Outlook header blocks, ``>`` blocks); ``new + quoted == text``.
* :mod:`.sanitize` - ``sanitize_html`` leaves no way to run script or load anything remote;
  ``rewrite_cid`` points ``cid:`` images at URLs the service serves.
* :mod:`.html2text` - ``html_to_text``: the readable text of HTML-only mail.
* :mod:`.refs` - the ``[#ticket]`` subject marker of incoming mail, reply subjects.
* :mod:`.loops` - ``auto_reason`` (auto-reply, bulk, list, bounce) and ``parse_bounce``
  (RFC 3464 reports and free-text bounces), so automatic mail never starts a loop.
* :mod:`.charsets`, :mod:`.headers` - decoding that never raises, used by the rest.
* :mod:`.model` - the frozen dataclasses handed out.

Outgoing mail (composing, the relay or ``.eml`` transport, message ids and ``References``) is
shared with the notifications service and lives in :mod:`services.chassis.mail`.
"""

from __future__ import annotations

from services.conversations.mail.limits import MailLimits, MailRejected, check_limits, limits_from_env
from services.conversations.mail.model import Address, Bounce, InboundMail, MailAttachment
from services.conversations.mail.parse import parse_mail
from services.conversations.mail.quote import split_quoted
from services.conversations.mail.refs import reply_subject, ticket_ref_in_subject
from services.conversations.mail.sanitize import SanitizedHtml, rewrite_cid, sanitize_html

__all__ = [
    "Address",
    "Bounce",
    "InboundMail",
    "MailAttachment",
    "MailLimits",
    "MailRejected",
    "SanitizedHtml",
    "check_limits",
    "limits_from_env",
    "parse_mail",
    "reply_subject",
    "rewrite_cid",
    "sanitize_html",
    "split_quoted",
    "ticket_ref_in_subject",
]
