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
* :mod:`.refs` - message ids, ``References`` of a reply, the ``[#ticket]`` subject marker,
  reply subjects.
* :mod:`.loops` - ``auto_reason`` (auto-reply, bulk, list, bounce) and ``parse_bounce``
  (RFC 3464 reports and free-text bounces), so automatic mail never starts a loop.
* :mod:`.compose` - ``compose(...)``: outgoing mail as 7-bit bytes any relay accepts.
* :mod:`.transport` - ``SmtpRelayTransport`` and ``EmlFolderTransport``; a failure is
  either transient (retry) or permanent (mark failed); ``transport_from_env``.
* :mod:`.charsets`, :mod:`.headers` - decoding that never raises, used by the rest.
* :mod:`.model` - the frozen dataclasses handed out.
"""

from __future__ import annotations

from services.conversations.mail.compose import compose
from services.conversations.mail.limits import MailLimits, MailRejected, check_limits, limits_from_env
from services.conversations.mail.model import Address, Bounce, InboundMail, MailAttachment
from services.conversations.mail.parse import parse_mail
from services.conversations.mail.quote import split_quoted
from services.conversations.mail.refs import (
    build_references,
    make_message_id,
    normalise_message_id,
    reply_subject,
    subject_with_ref,
    ticket_ref_in_subject,
)
from services.conversations.mail.sanitize import SanitizedHtml, rewrite_cid, sanitize_html
from services.conversations.mail.transport import (
    EmlFolderTransport,
    PermanentSendError,
    SmtpRelayTransport,
    TransientSendError,
    Transport,
    transport_from_env,
)

__all__ = [
    "Address",
    "Bounce",
    "EmlFolderTransport",
    "InboundMail",
    "MailAttachment",
    "MailLimits",
    "MailRejected",
    "PermanentSendError",
    "SanitizedHtml",
    "SmtpRelayTransport",
    "TransientSendError",
    "Transport",
    "build_references",
    "check_limits",
    "compose",
    "limits_from_env",
    "make_message_id",
    "normalise_message_id",
    "parse_mail",
    "reply_subject",
    "rewrite_cid",
    "sanitize_html",
    "split_quoted",
    "subject_with_ref",
    "ticket_ref_in_subject",
    "transport_from_env",
]
