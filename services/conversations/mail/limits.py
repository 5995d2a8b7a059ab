"""What inbound mail may weigh, and the cheap check the SMTP edge runs before it says 250.

:func:`check_limits` never builds the message tree: it finds part boundaries with one
regular-expression search per part (C speed, linear in the size of the mail), reads only
the part headers, and stops at the first limit broken. So a mail that would make a full
parse slow or deep (a nesting bomb, ten thousand empty parts) is refused in milliseconds
with the SMTP answer the sending server should get. :func:`~.parse.parse_mail` runs the
same check first and enforces the limits again on what it actually decodes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser

MiB = 1024 * 1024

_ENV_NAMES = {
    "max_bytes": "HELPDESK_MAIL_MAX_BYTES",
    "max_depth": "HELPDESK_MAIL_MAX_DEPTH",
    "max_parts": "HELPDESK_MAIL_MAX_PARTS",
    "max_attachments": "HELPDESK_MAIL_MAX_ATTACHMENTS",
    "max_attachment_bytes": "HELPDESK_MAIL_MAX_ATTACHMENT_BYTES",
    "max_header_bytes": "HELPDESK_MAIL_MAX_HEADER_BYTES",
}


@dataclass(frozen=True)
class MailLimits:
    """Bounds on one inbound mail; ``max_depth`` counts nested multiparts and attached messages."""

    max_bytes: int = 25 * MiB
    max_depth: int = 10
    max_parts: int = 500
    max_attachments: int = 50
    max_attachment_bytes: int = 15 * MiB
    max_header_bytes: int = 256 * 1024


def limits_from_env(environ: Mapping[str, str]) -> MailLimits:
    """Defaults overridden by ``HELPDESK_MAIL_MAX_BYTES``, ``..._MAX_DEPTH``, ``..._MAX_PARTS``,
    ``..._MAX_ATTACHMENTS``, ``..._MAX_ATTACHMENT_BYTES``, ``..._MAX_HEADER_BYTES``.

    A value that is not a positive integer raises ValueError naming the variable, at start-up.
    """
    values: dict[str, int] = {}
    for field in fields(MailLimits):
        name = _ENV_NAMES[field.name]
        text = environ.get(name, "").strip()
        if not text:
            continue
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{name} must be a positive integer, not {text!r}") from None
        if value <= 0:
            raise ValueError(f"{name} must be a positive integer, not {text!r}")
        values[field.name] = value
    return MailLimits(**values)


class MailRejected(Exception):
    """A mail we refuse, with the SMTP reply the sending server gets (``code status reason``)."""

    def __init__(self, code: int, status: str, reason: str) -> None:
        super().__init__(f"{code} {status} {reason}")
        self.code = code
        self.status = status
        self.reason = reason

    @property
    def smtp_reply(self) -> str:
        return f"{self.code} {self.status} {self.reason}"


def too_big(what: str, size: int, limit: int) -> MailRejected:
    return MailRejected(552, "5.3.4", f"{what} is too big ({size} bytes; the limit is {limit})")


def bad_structure(reason: str) -> MailRejected:
    return MailRejected(554, "5.6.0", reason)


_HEADER_END = re.compile(rb"\r?\n\r?\n")
_HEADER_PARSER = BytesHeaderParser(policy=policy.compat32)


def is_body_text(headers: Message) -> bool:
    """Whether a leaf part is message text (shown) rather than an attachment (stored)."""
    if headers.get_content_type() not in ("text/plain", "text/html"):
        return False
    if headers.get_content_disposition() == "attachment":
        return False
    return not headers.get_filename()


class _Scan:
    def __init__(self, raw: bytes, limits: MailLimits) -> None:
        self.raw = raw
        self.limits = limits
        self.parts = 0
        self.attachments = 0
        self.pos = 0
        self.stack: list[tuple[bytes, int, str]] = []  # (boundary, depth, multipart subtype)
        self.leaf: tuple[int, bool] | None = None  # (body start, base64?) of an open attachment

    def headers_at(self, start: int) -> tuple[Message, int]:
        """Parse the header block starting at ``start``; returns it and where its body starts."""
        raw = self.raw
        if raw.startswith(b"\r\n", start):
            return _HEADER_PARSER.parsebytes(b""), start + 2
        if raw.startswith(b"\n", start):
            return _HEADER_PARSER.parsebytes(b""), start + 1
        limit = self.limits.max_header_bytes
        found = _HEADER_END.search(raw, start, start + limit + 4)
        end = found.end() if found else len(raw)
        if end - start > limit + 4:
            raise too_big("A header block", end - start, limit)
        return _HEADER_PARSER.parsebytes(raw[start:end]), end

    def entity(self, headers: Message, depth: int, body_start: int, default_type: str) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise bad_structure(f"Too many MIME parts (the limit is {self.limits.max_parts})")
        if depth > self.limits.max_depth:
            raise bad_structure(f"MIME structure nested too deeply (the limit is {self.limits.max_depth})")
        if "content-type" not in headers:
            headers.set_default_type(default_type)
        ctype = headers.get_content_type()
        if ctype.startswith("multipart/"):
            boundary = headers.get_boundary()
            if boundary:
                self.stack.append((boundary.encode("utf-8", "surrogateescape"), depth, ctype))
                self.pos = body_start
                return
        if ctype in ("message/rfc822", "message/global"):
            if headers.get_content_disposition() == "attachment":
                self.count_attachment()
            inner, inner_body = self.headers_at(body_start)
            self.pos = inner_body
            self.entity(inner, depth + 1, inner_body, "text/plain")
            return
        if not is_body_text(headers):
            self.count_attachment()
            encoding = str(headers.get("content-transfer-encoding", "")).strip().lower()
            self.leaf = (body_start, encoding == "base64")
        self.pos = body_start

    def count_attachment(self) -> None:
        self.attachments += 1
        if self.attachments > self.limits.max_attachments:
            raise bad_structure(f"Too many attachments (the limit is {self.limits.max_attachments})")

    def close_leaf(self, end: int) -> None:
        if self.leaf is None:
            return
        start, base64 = self.leaf
        self.leaf = None
        size = end - start
        if base64:
            size = size * 3 // 4
        if size > self.limits.max_attachment_bytes:
            raise too_big("An attachment", size, self.limits.max_attachment_bytes)

    def run(self) -> None:
        top, body = self.headers_at(0)
        self.entity(top, 0, body, "text/plain")
        while self.stack:
            ordered = sorted({b for b, _, _ in self.stack}, key=len, reverse=True)
            pattern = re.compile(
                rb"^--(" + b"|".join(re.escape(b) for b in ordered) + rb")(--)?[ \t]*\r?$", re.M
            )
            found = pattern.search(self.raw, self.pos)
            if found is None:
                break
            self.close_leaf(found.start())
            index = max(i for i, (b, _, _) in enumerate(self.stack) if b == found.group(1))
            _, depth, subtype = self.stack[index]
            del self.stack[index + 1 :]
            line_end = self.raw.find(b"\n", found.end())
            self.pos = len(self.raw) if line_end < 0 else line_end + 1
            if found.group(2):
                self.stack.pop()
                continue
            headers, body = self.headers_at(self.pos)
            default = "message/rfc822" if subtype == "multipart/digest" else "text/plain"
            self.entity(headers, depth + 1, body, default)
        self.close_leaf(len(self.raw))


def check_limits(raw: bytes, limits: MailLimits) -> None:
    """Raise :class:`MailRejected` if ``raw`` breaks ``limits``; cheap enough for the SMTP edge.

    Sizes: 552 5.3.4 (whole mail, a header block, an attachment, estimated from its encoded
    size). Structure: 554 5.6.0 (nesting depth, number of parts, number of attachments).
    Broken MIME that breaks no limit passes: the parser copes with it.
    """
    if len(raw) > limits.max_bytes:
        raise too_big("The message", len(raw), limits.max_bytes)
    _Scan(raw, limits).run()
