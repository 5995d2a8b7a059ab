"""The printable page of a thread: customer and agent messages only, no notes.

Each message shows who wrote it, to whom, when, and its content; the page is headed by
the ticket's id and name. A reply that was not mailed (on chat, where agents answer in the
chat itself) is stored without sender or recipient addresses: the page names its agent as
the sender and the thread's customer as the recipient. Message HTML was sanitised when it
arrived and is sanitised again here (nothing stored is trusted twice over); plain text is
escaped. The page has one fixed stylesheet and no script; :data:`CONTENT_SECURITY_POLICY`
allows nothing else.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.conversations.mail.sanitize import rewrite_cid, sanitize_html

STYLE = (
    "body{font:14px/1.5 system-ui,sans-serif;margin:2em;color:#111}"
    "header{border-bottom:2px solid #333;margin-bottom:1em}"
    "article{border-bottom:1px solid #bbb;padding:.5em 0 1em;break-inside:avoid}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:0 1em;margin:0 0 .5em;color:#444}"
    "dt{font-weight:600}dd{margin:0}"
    "pre{white-space:pre-wrap;font:inherit;margin:0}"
    "img{max-width:100%}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; img-src 'self'; style-src 'sha256-{_STYLE_HASH}'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PRINTED_KINDS = ("customer", "reply")


@dataclass(frozen=True)
class PrintedMessage:
    kind: str
    sender: str
    to: Sequence[str]
    cc: Sequence[str]
    at: dt.datetime
    subject: str
    text: str
    html: str | None
    images: Mapping[str, str]  # cid -> URL


def printable(message: Mapping[str, Any]) -> bool:
    """Only what the customer and agents wrote; not notes, not bounces or auto-replies."""
    return message["kind"] in PRINTED_KINDS and not message.get("auto")


def person(who: Mapping[str, Any] | None) -> str:
    """``Name <address>``, the address alone, the name alone, or ``-`` for nobody."""
    if not who or not (who.get("email") or who.get("name")):
        return "-"
    if not who.get("email"):
        return str(who["name"])
    return f"{who['name']} <{who['email']}>" if who.get("name") else str(who["email"])


def printed(message: Mapping[str, Any], customer: Mapping[str, Any]) -> PrintedMessage:
    """A stored message (with its ``author_name``) as the page shows it, on a thread with ``customer``.

    A reply that was not mailed (it has no Message-ID) went to the customer in the conversation
    itself: its sender is its agent, its recipient the customer. A mailed reply shows exactly
    whom it was sent to, even nobody (a reply that failed for want of a recipient)."""
    sender, to = message["sender"], list(message["to"])
    if message["kind"] == "reply" and message["email_message_id"] is None:
        sender = sender or {"name": message["author_name"] or f"Agent {message['author_id']}"}
        to = to or [customer]
    return PrintedMessage(
        kind=message["kind"],
        sender=person(sender),
        to=[person(p) for p in to],
        cc=[person(p) for p in message["cc"]],
        at=dt.datetime.fromisoformat(message["created_at"]),
        subject=message["subject"],
        text=message["text"] + message["quoted_text"],
        html=message["html"],
        images={},
    )


def _people(addresses: Sequence[str]) -> str:
    return ", ".join(html.escape(a) for a in addresses) or "-"


def _body(message: PrintedMessage) -> str:
    if message.html:
        return rewrite_cid(sanitize_html(message.html).html, dict(message.images))
    return f"<pre>{html.escape(message.text)}</pre>"


def render(ticket_id: int | None, ticket_name: str, subject: str, messages: Sequence[PrintedMessage]) -> str:
    """The whole page (see the module docstring)."""
    title = f"#{ticket_id} {ticket_name}" if ticket_id is not None else subject
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subject)}</p></header>",
    ]
    for message in messages:
        parts.append(
            "<article><dl>"
            f"<dt>From</dt><dd>{html.escape(message.sender)}</dd>"
            f"<dt>To</dt><dd>{_people(message.to)}</dd>"
            + (f"<dt>Cc</dt><dd>{_people(message.cc)}</dd>" if message.cc else "")
            + f"<dt>Date</dt><dd>{html.escape(message.at.isoformat())}</dd>"
            f"<dt>Subject</dt><dd>{html.escape(message.subject)}</dd>"
            f"</dl>{_body(message)}</article>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
