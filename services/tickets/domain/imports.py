"""Tickets brought over from another help desk: what an import creates, and what a rerun changes.

An imported ticket keeps its original dates (``created_at``, last activity as ``updated_at``,
``closed_at`` while its stage is CLOSED) and its id there (``external_source`` +
``external_id``), so importing the same export again finds it and changes only what differs:
a second run of an unchanged export changes nothing. A new imported ticket announces
``ticket_imported`` (not ``ticket_created``: nobody is notified of old tickets as if they
had just arrived); a rerun that changes a ticket goes through :meth:`Ticket.change`, so its
timeline entries and events are those of any edit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from services.chassis.clock import aware, isoformat
from services.chassis.domain import Event
from services.tickets import contract
from services.tickets.domain.ticket import Change, Entry, Stage, Ticket

IMPORTED_FIELDS = ("name", "description", "priority", "category", "owner_id", "source")
"""Editable fields an import item sets (pipeline and status come resolved as a Stage)."""


def _same(a: dt.datetime | None, b: dt.datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return aware(a) == aware(b)


def closed_at_for(state: str, given: dt.datetime | None, fallback: dt.datetime) -> dt.datetime | None:
    """An imported ticket's ``closed_at``: none while OPEN; the given date (else ``fallback``) if CLOSED."""
    if state == "OPEN":
        return None
    return given or fallback


@dataclass(frozen=True)
class NewImport:
    """A ticket about to be created by an import: column values (dates included) and associations."""

    actor_id: int
    source: str
    external_id: str
    values: dict[str, Any]
    associations: dict[str, list[int]]
    created_at: dt.datetime
    updated_at: dt.datetime

    ENTRIES = (Entry("imported"),)

    def events(self, ticket_id: int) -> list[Event]:
        v = self.values
        payload = {
            "ticket_id": ticket_id,
            "actor_id": self.actor_id,
            "owner_id": v["owner_id"],
            "team_id": v["team_id"],
            "pipeline_id": v["pipeline_id"],
            "status": v["status"],
            "priority": v["priority"],
            "name": v["name"],
            "external_source": self.source,
            "external_id": self.external_id,
            "created_at": isoformat(self.created_at),
            "closed_at": isoformat(v["closed_at"]),
        }
        return [Event(contract.TICKET_IMPORTED, payload)]


def import_new(
    *, actor_id: int, source: str, item: Mapping[str, Any], stage: Stage, now: dt.datetime
) -> NewImport:
    """A new ticket from a validated import item (``contract.ImportItemSchema``) in ``stage``."""
    created_at = item.get("created_at") or now
    updated_at = max(item.get("updated_at") or created_at, created_at)
    opened = Ticket.open(actor_id=actor_id, data=item, stage=stage, now=now)
    values = {**opened.values, "closed_at": closed_at_for(stage.state, item.get("closed_at"), updated_at)}
    return NewImport(
        actor_id, source, item["external_id"], values, opened.associations, created_at, updated_at
    )


def import_change(
    ticket: Ticket,
    *,
    actor_id: int,
    item: Mapping[str, Any],
    stage: Stage,
    created_at: dt.datetime,
    now: dt.datetime,
) -> Change:
    """What importing ``item`` again does to the ticket it created before.

    The editable fields change as in any edit; then ``closed_at`` (the item's close date
    while the stage is CLOSED) and ``created_at`` are brought in line, each recorded as a
    property change. Nothing differs: :data:`~.ticket.NO_CHANGE`.
    """
    requested = {name: item[name] for name in IMPORTED_FIELDS if name in item}
    base = ticket.change(actor_id=actor_id, requested=requested, stage=stage, now=now)
    closed_now = base.values.get("closed_at", ticket.closed_at)
    wanted_closed = closed_at_for(stage.state, item.get("closed_at"), closed_now or now)
    dates: dict[str, tuple[dt.datetime | None, dt.datetime | None]] = {}
    if not _same(wanted_closed, closed_now):
        dates["closed_at"] = (ticket.closed_at, wanted_closed)
    if item.get("created_at") is not None and not _same(item["created_at"], created_at):
        dates["created_at"] = (created_at, item["created_at"])
    if not dates:
        return base
    return _with_dates(ticket, base, dates, actor_id)


def _with_dates(
    ticket: Ticket,
    base: Change,
    dates: dict[str, tuple[dt.datetime | None, dt.datetime | None]],
    actor_id: int,
) -> Change:
    """``base`` plus changed dates: their values, entries, and their place in ``ticket_updated``."""
    shown = {name: [isoformat(old), isoformat(new)] for name, (old, new) in dates.items()}
    values = {**base.values, **{name: new for name, (_old, new) in dates.items()}}
    values["version"] = ticket.version + 1
    entries = base.entries + tuple(Entry("property_changed", name, *pair) for name, pair in shown.items())
    events = list(base.events)
    updated = next((i for i, e in enumerate(events) if e.type == contract.TICKET_UPDATED), None)
    if updated is None:
        payload = {
            "ticket_id": ticket.id,
            "actor_id": actor_id,
            "changes": shown,
            "owner_id": values.get("owner_id", ticket.owner_id),
            "version": ticket.version + 1,
        }
        events.insert(0, Event(contract.TICKET_UPDATED, payload))
    else:
        first = events[updated]
        payload = {**first.payload, "changes": {**first.payload["changes"], **shown}}
        events[updated] = replace(first, payload=payload)
    return Change(values, entries, tuple(events))
