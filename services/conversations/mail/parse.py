"""Raw inbound mail to :class:`~.model.InboundMail`: decoded, split, sanitised, classified.

:func:`parse_mail` either returns an ``InboundMail`` or raises :class:`~.limits.MailRejected`;
nothing a sender can put in a mail makes it raise anything else. It is lenient where mail
clients are sloppy (a missing boundary, truncated base64, a bogus charset, raw 8-bit headers
all give the best text that can be had) and strict only about :class:`~.limits.MailLimits`.

How the body is read: in ``multipart/alternative`` the last plain and the last HTML version
win; in ``multipart/related`` the root is the body and the other parts are inline resources;
in ``multipart/mixed`` every inline text part is body (joined in order) and everything else
is an attachment. A ``format=flowed`` text is unwrapped. Mail with HTML only gets its text
from the sanitised HTML (:mod:`.html2text`); mail with text only never gets HTML.
An attached mail (``message/rfc822``) is kept as an ``.eml`` attachment, not read as body.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html as html_lib
import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from services.chassis.mail.model import is_mail_address
from services.chassis.mail.refs import normalise_message_id, parse_references
from services.conversations.mail.charsets import decode_bytes, decode_header_text
from services.conversations.mail.headers import (
    header_text,
    parse_addresses,
    raw_header,
    raw_headers,
)
from services.conversations.mail.html2text import html_to_text
from services.conversations.mail.limits import (
    MailLimits,
    MailRejected,
    bad_structure,
    check_limits,
    is_body_text,
    too_big,
)
from services.conversations.mail.loops import BOUNCE, auto_reason, parse_bounce
from services.conversations.mail.model import Address, Bounce, InboundMail, MailAttachment
from services.conversations.mail.quote import split_quoted
from services.conversations.mail.sanitize import content_id_key, sanitize_html

__all__ = [
    "Bounce",
    "InboundMail",
    "MailAttachment",
    "MailLimits",
    "MailRejected",
    "check_limits",
    "parse_mail",
]

KEPT_HEADERS = (
    "Return-Path",
    "Delivered-To",
    "X-Original-To",
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "List-Unsubscribe",
    "X-Mailer",
    "User-Agent",
    "X-Priority",
    "Importance",
    "X-Spam-Flag",
    "X-Spam-Status",
    "X-Spam-Score",
    "Authentication-Results",
    "Received-SPF",
)
"""Headers copied into :attr:`InboundMail.headers` (first value, decoded, at most 2,000 characters)."""

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_LEADING_BLANK_LINES = re.compile(r"\A(?:[^\S\n]*\n)+")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]+")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


@dataclass
class _Body:
    """Body text collected from a subtree: plain and HTML versions, each None when absent."""

    plain: str | None = None
    html: str | None = None


@dataclass
class _Walk:
    limits: MailLimits
    charset_hint: str | None = None
    parts: int = 0
    attachments: list[MailAttachment] = field(default_factory=list)

    def body(self, part: Message, depth: int) -> _Body:
        self.parts += 1
        if depth > self.limits.max_depth:
            raise bad_structure(f"MIME structure nested too deeply (the limit is {self.limits.max_depth})")
        if self.parts > self.limits.max_parts:
            raise bad_structure(f"Too many MIME parts (the limit is {self.limits.max_parts})")
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            self.attach_message(part)
            return _Body()
        if part.is_multipart():
            children = [c for c in part.get_payload() if isinstance(c, Message)]
            if ctype == "multipart/alternative":
                return self.alternative(children, depth)
            if ctype == "multipart/related":
                return self.related(part, children, depth)
            return self.mixed(children, depth)
        if _is_text(part) or ctype.startswith("multipart/"):  # a multipart without parts: its text
            text = _text_content(part, self.charset_hint)
            return _Body(html=text) if ctype == "text/html" else _Body(plain=_unflow(part, text))
        self.attach(part, inline=False)
        return _Body()

    def alternative(self, children: list[Message], depth: int) -> _Body:
        found = _Body()
        for child in children:
            version = self.body(child, depth + 1)
            found.plain = version.plain if version.plain is not None else found.plain
            found.html = version.html if version.html is not None else found.html
        return found

    def related(self, part: Message, children: list[Message], depth: int) -> _Body:
        if not children:
            return _Body()
        start = content_id_key(str(part.get_param("start") or ""))
        root = next((c for c in children if _content_id(c) == start), children[0]) if start else children[0]
        found = self.body(root, depth + 1)
        for child in children:
            if child is root:
                continue
            if child.is_multipart() or child.get_content_type() in ("message/rfc822", "message/global"):
                self.body(child, depth + 1)
            else:
                self.parts += 1
                self.attach(child, inline=_content_id(child) is not None)
        return found

    def mixed(self, children: list[Message], depth: int) -> _Body:
        pieces = [self.body(child, depth + 1) for child in children]
        pieces = [p for p in pieces if p.plain is not None or p.html is not None]
        if not pieces:
            return _Body()
        plain = "\n\n".join(p.plain if p.plain is not None else html_to_text(p.html or "") for p in pieces)
        if all(p.html is None for p in pieces):
            return _Body(plain=plain)
        html = "\n".join(
            p.html if p.html is not None else f"<pre>{html_lib.escape(p.plain or '')}</pre>" for p in pieces
        )
        return _Body(plain=plain, html=html)

    def add(self, attachment: MailAttachment) -> None:
        if len(attachment.data) > self.limits.max_attachment_bytes:
            raise too_big("An attachment", len(attachment.data), self.limits.max_attachment_bytes)
        if len(self.attachments) >= self.limits.max_attachments:
            raise bad_structure(f"Too many attachments (the limit is {self.limits.max_attachments})")
        self.attachments.append(attachment)

    def attach(self, part: Message, inline: bool) -> None:
        data = _payload(part)
        ctype = part.get_content_type()
        content_id = _content_id(part)
        disposition = part.get_content_disposition()
        inline = inline or (content_id is not None and disposition == "inline")
        name = _filename(part, ctype, len(self.attachments) + 1)
        self.add(MailAttachment(name, ctype, data, content_id, inline and content_id is not None))

    def attach_message(self, part: Message) -> None:
        inner = part.get_payload()
        message = inner[0] if isinstance(inner, list) and inner else None
        if not isinstance(message, Message):
            self.attach(part, inline=False)
            return
        try:
            data = message.as_bytes(policy=policy.compat32)
        except Exception:  # a tree the generator cannot write back: keep what can be had
            data = message.as_string(policy=policy.compat32).encode("utf-8", "surrogateescape")
        subject = header_text(message, "subject")
        name = _safe_filename(_filename_param(part) or (subject + ".eml" if subject else ""))
        self.add(MailAttachment(name or "message.eml", "message/rfc822", data, _content_id(part), False))


def _base64_bytes(text: str) -> bytes:
    """Lenient base64: skips stray characters, decodes concatenated and truncated blocks."""
    out = bytearray()
    for chunk in re.split(r"=+", _NOT_BASE64.sub("", text)):
        chunk = chunk[: len(chunk) - len(chunk) % 4] if len(chunk) % 4 == 1 else chunk
        if chunk:
            out.extend(base64.b64decode(chunk + "=" * (-len(chunk) % 4)))
    return bytes(out)


def _payload(part: Message) -> bytes:
    """The decoded body of a leaf part; what can be had when its encoding is broken."""
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding == "base64":
        raw = part.get_payload(decode=False)
        return _base64_bytes(raw if isinstance(raw, str) else "")
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _is_text(part: Message) -> bool:
    try:
        return is_body_text(part)
    except Exception:  # unreadable parameters: treat the part as a file
        return False


def _text_content(part: Message, hint: str | None) -> str:
    data = _payload(part)
    charset = part.get_content_charset()
    if charset is None and part.get_content_type() == "text/html":
        found = _META_CHARSET.search(data[:4096])
        charset = found.group(1).decode("ascii") if found else None
    return decode_bytes(data, charset or hint)


def _unflow(part: Message, text: str) -> str:
    """Unwrap a ``format=flowed`` text (RFC 3676): soft line breaks end in a space."""
    if str(part.get_param("format") or "").lower() != "flowed":
        return text
    delsp = str(part.get_param("delsp") or "").lower() == "yes"
    lines: list[str] = []
    current: tuple[int, str] | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        soft = content.endswith(" ") and content != "-- "
        if soft and delsp:
            content = content[:-1]
        if current is not None and current[0] == depth:
            current = (depth, current[1] + content)
        else:
            if current is not None:
                lines.append(_flowed_line(*current))
            current = (depth, content)
        if not soft:
            lines.append(_flowed_line(*current))
            current = None
    if current is not None:
        lines.append(_flowed_line(*current))
    return "\n".join(lines)


def _flowed_line(depth: int, content: str) -> str:
    return (">" * depth + " " + content) if depth else content


def _content_id(part: Message) -> str | None:
    value = raw_header(part, "content-id")
    key = content_id_key(decode_header_text(value)) if value else ""
    return key or None


def _filename_param(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # a malformed parameter: no name rather than no mail
        name = None
    return decode_header_text(str(name)) if name else None


def _safe_filename(name: str) -> str:
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    return name[:200]


def _filename(part: Message, ctype: str, number: int) -> str:
    name = _safe_filename(_filename_param(part) or "")
    if name:
        return name
    stem = "image" if ctype.startswith("image/") else "attachment"
    fallback = ".txt" if ctype.startswith("text/") else ".bin"
    return f"{stem}-{number}{mimetypes.guess_extension(ctype) or fallback}"


def _date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _charset_hint(msg: Message) -> str | None:
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            charset = part.get_content_charset()
            if charset:
                return charset
    return None


def _normalise_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return unicodedata.normalize("NFC", _LEADING_BLANK_LINES.sub("", text).rstrip())


def _synthetic_id(raw: bytes) -> str:
    return f"sha256-{hashlib.sha256(raw).hexdigest()[:32]}@no-message-id.invalid"


def _kept_headers(msg: Message, hint: str | None) -> dict[str, str]:
    kept = {}
    for name in KEPT_HEADERS:
        value = raw_header(msg, name)
        if value is not None:
            kept[name] = decode_header_text(value, hint)[:2000]
    return kept


def _sender(msg: Message, hint: str | None, envelope_from: str | None) -> Address:
    """Who wrote: the first address one can answer of ``From``, ``Sender``, ``Reply-To`` and the
    envelope's ``MAIL FROM``, in that order (a header that holds none, say ``From: not an
    address at all``, counts as missing). When none holds one, the first thing they name, as
    before (a mailer daemon's bare name still tells whose bounce it is)."""
    found = [parse_addresses(raw_headers(msg, name), hint) for name in ("from", "sender", "reply-to")]
    found.append(parse_addresses([envelope_from]) if envelope_from else [])
    for senders in found:
        for sender in senders:
            if is_mail_address(sender[1]):
                return sender
    return next((senders[0] for senders in found if senders), ("", ""))


def _parse(raw: bytes, limits: MailLimits, envelope_from: str | None) -> InboundMail:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    hint = _charset_hint(msg)
    walk = _Walk(limits, hint)
    body = walk.body(msg, 0)
    html = None
    blocked = 0
    if body.html is not None:
        sanitized = sanitize_html(body.html)
        html, blocked = sanitized.html.strip(), sanitized.remote_images_blocked
    text = body.plain if body.plain is not None else html_to_text(html or "")
    new, quoted = split_quoted(_normalise_text(text))

    from_name, from_address = _sender(msg, hint, envelope_from)

    bounce = parse_bounce(msg)
    auto = auto_reason(msg, envelope_from) or (BOUNCE if bounce else None)
    return InboundMail(
        message_id=normalise_message_id(raw_header(msg, "message-id")) or _synthetic_id(raw),
        in_reply_to=normalise_message_id(raw_header(msg, "in-reply-to")),
        references=parse_references(" ".join(raw_headers(msg, "references"))),
        subject=header_text(msg, "subject", hint),
        from_name=from_name,
        from_address=from_address,
        to=parse_addresses(raw_headers(msg, "to"), hint),
        cc=parse_addresses(raw_headers(msg, "cc"), hint),
        reply_to=parse_addresses(raw_headers(msg, "reply-to"), hint),
        date=_date(raw_header(msg, "date")),
        text=new,
        quoted=quoted,
        html=html,
        attachments=walk.attachments,
        auto=auto,
        bounce=bounce,
        headers=_kept_headers(msg, hint),
        remote_images_blocked=blocked,
    )


def parse_mail(
    raw: bytes, limits: MailLimits = MailLimits(), *, envelope_from: str | None = None
) -> InboundMail:
    """Decode ``raw`` (the exact bytes received) into an :class:`InboundMail`.

    ``envelope_from`` is the SMTP ``MAIL FROM`` when known: it helps tell automatic mail and
    stands in for a missing ``From``. Raises :class:`MailRejected` (and nothing else) when the
    mail breaks ``limits`` or cannot be read at all.
    """
    check_limits(raw, limits)
    try:
        return _parse(raw, limits, envelope_from)
    except MailRejected:
        raise
    except Exception as error:  # a parser bug or a mail beyond repair: refuse it, do not crash
        raise bad_structure(f"The message could not be read ({type(error).__name__})") from error
