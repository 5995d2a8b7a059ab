"""What a notification says: its title, and its email (plain text and HTML) from the templates.

Titles are short sentences naming the ticket (``Ticket #12 was assigned to you: Printer``) or, for
a bulk change, the number of tickets (``12 tickets were reassigned to you``). Emails are rendered
from the files in ``services/notifications/templates`` (``string.Template``; every value is
HTML-escaped in the HTML part) and link each ticket to the web workspace at ``<base>/split/<id>``.
"""

from __future__ import annotations

import html
import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from services.notifications.contract import (
    ASSIGNED_TO_YOU,
    MENTIONED,
    NEW_MESSAGE,
    RECORD_UPDATED,
    SLA_BREACHED,
    STATUS_CHANGED,
    TICKET_CREATED,
)

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
MAX_NAME = 150
MAX_LISTED = 50
"""Tickets listed in one mail (a bulk change of more says how many more there are)."""

_ONE = {
    TICKET_CREATED: "New ticket #{id}: {name}",
    ASSIGNED_TO_YOU: "Ticket #{id} was assigned to you: {name}",
    NEW_MESSAGE: "New customer message on ticket #{id}: {name}",
    STATUS_CHANGED: "Ticket #{id} changed status: {name}",
    RECORD_UPDATED: "Ticket #{id} was updated: {name}",
    MENTIONED: "You were mentioned on ticket #{id}: {name}",
    SLA_BREACHED: "Ticket #{id} breached its SLA: {name}",
}
_MANY = {
    TICKET_CREATED: "{n} new tickets",
    ASSIGNED_TO_YOU: "{n} tickets were reassigned to you",
    NEW_MESSAGE: "New customer messages on {n} tickets",
    STATUS_CHANGED: "{n} tickets changed status",
    RECORD_UPDATED: "{n} tickets were updated",
    MENTIONED: "You were mentioned on {n} tickets",
    SLA_BREACHED: "{n} tickets breached their SLA",
}


def _short(name: str) -> str:
    name = " ".join(name.split())
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


def title(kind: str, *, ticket_id: int | None, ticket_name: str, count: int = 1) -> str:
    """The notification's one-line title (see the module docstring)."""
    if count > 1:
        return _MANY[kind].format(n=count)
    return _ONE[kind].format(id=ticket_id, name=_short(ticket_name)).removesuffix(": ")


@dataclass(frozen=True)
class MailContent:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Line:
    """One line of a mail: a sentence and the ticket it links to."""

    text: str
    ticket_id: int | None


@cache
def _template(name: str) -> string.Template:
    return string.Template((TEMPLATES / name).read_text(encoding="utf-8"))


def ticket_url(base_url: str, ticket_id: int) -> str:
    return f"{base_url.rstrip('/')}/split/{ticket_id}"


def _text_lines(lines: Sequence[Line], base_url: str) -> str:
    return "\n".join(
        f"* {line.text}" + (f"\n  {ticket_url(base_url, line.ticket_id)}" if line.ticket_id else "")
        for line in lines
    )


def _html_lines(lines: Sequence[Line], base_url: str) -> str:
    rows = []
    for line in lines:
        text = html.escape(line.text)
        if line.ticket_id:
            href = html.escape(ticket_url(base_url, line.ticket_id), quote=True)
            text = f'<a href="{href}">{text}</a>'
        rows.append(f"<li>{text}</li>")
    return "\n".join(rows)


def ticket_lines(ticket_ids: Sequence[int]) -> list[Line]:
    """A link to each ticket a notification is about."""
    return [Line(f"Open ticket #{ticket_id}", ticket_id) for ticket_id in ticket_ids]


def _listed(lines: Sequence[Line]) -> list[Line]:
    shown = list(lines[:MAX_LISTED])
    if len(lines) > MAX_LISTED:
        shown.append(Line(f"and {len(lines) - MAX_LISTED} more", None))
    return shown


def notification_mail(
    *, recipient: str, headline: str, tickets: Sequence[Line], base_url: str
) -> MailContent:
    """The email of one notification: its title, and a link to each ticket it concerns."""
    shown = _listed(tickets)
    text = _template("notification.txt").substitute(
        recipient=recipient or "there", title=headline, tickets=_text_lines(shown, base_url)
    )
    body = _template("notification.html").substitute(
        recipient=html.escape(recipient or "there"),
        title=html.escape(headline),
        tickets=_html_lines(shown, base_url),
    )
    return MailContent(headline, text, body)


def digest_mail(*, recipient: str, items: Sequence[Line], base_url: str) -> MailContent:
    """The hourly digest: one line per notification, newest last."""
    summary = f"{len(items)} new notification{'s' if len(items) != 1 else ''} in the help desk"
    shown = _listed(items)
    text = _template("digest.txt").substitute(
        recipient=recipient or "there", summary=summary, items=_text_lines(shown, base_url)
    )
    body = _template("digest.html").substitute(
        recipient=html.escape(recipient or "there"),
        summary=html.escape(summary),
        items=_html_lines(shown, base_url),
    )
    return MailContent(summary, text, body)
