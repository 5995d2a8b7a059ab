"""Hourly digests: the notifications a person chose to get by email in one mail an hour.

A notification for someone in digest mode waits in the store's digest queue. Every half minute
the service's timer looks for people whose oldest waiting notification has waited an hour, claims
their queue (with a lease, so two instances never write one digest twice), asks the tickets
service again whether the person may still see each ticket (access lost since counts: those
lines are left out), and queues one mail with the rest; the claimed entries are forgotten in the
same transaction. A failed lookup leaves the entries to the next round, when the lease ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from services.chassis.errors import NotFound
from services.notifications.domain import Line, digest_mail
from services.notifications.store import DigestEntry, NotificationStore, Person


def _still_visible(tickets: Any, user_id: int, ticket_ids: Iterable[int]) -> set[int]:
    """The tickets among ``ticket_ids`` the person may see now (one ``audience`` call per ticket)."""
    visible = set()
    for ticket_id in sorted(set(ticket_ids)):
        try:
            if user_id in tickets.audience(ticket_id, [user_id])["visible"]:
                visible.add(ticket_id)
        except NotFound:
            continue
    return visible


def _lines(entries: Sequence[DigestEntry], visible: set[int]) -> list[Line]:
    lines = []
    for entry in entries:
        shown = [t for t in entry.ticket_ids if t in visible]
        if shown:
            lines.append(Line(entry.title, shown[0]))
    return lines


def send_digests(
    store: NotificationStore,
    *,
    tickets: Any,
    people: Callable[[list[int]], dict[int, Person]],
    base_url: str,
) -> int:
    """Write every digest that is due; returns how many mails were queued."""
    written = 0
    for user_id in store.mail.digest_due():
        entries = store.mail.claim_digest(user_id=user_id)
        if not entries:
            continue
        ticket_ids = [t for entry in entries for t in entry.ticket_ids]
        lines = _lines(entries, _still_visible(tickets, user_id, ticket_ids))
        person = people([user_id]).get(user_id)
        if not lines or person is None or not person.email:
            store.mail.finish_digest(user_id=user_id, entries=entries, to=None, raw=None)
            continue
        content = digest_mail(recipient=person.name, items=lines, base_url=base_url)
        raw = store.mail.compose(content, to=(person.name, person.email))
        store.mail.finish_digest(user_id=user_id, entries=entries, to=(person.name, person.email), raw=raw)
        written += 1
    return written
