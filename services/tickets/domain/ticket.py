"""A ticket's rules: what a change really changes, what closing and reopening mean, which
events and timeline entries follow.

:class:`Ticket` is a ticket's state as the rules see it. Its methods decide and
return a :class:`Change` (the column values to write, the timeline entries, the
events); they never touch a database. The store loads a ticket, asks it, and saves
and records exactly what the change says, in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.chassis.domain import Event
from services.chassis.identity import Caller
from services.tickets import contract

PRIORITY_RANK = {name: rank for rank, name in enumerate(contract.PRIORITIES)}
"""Priorities in their natural order, so ``sort=priority`` means low..urgent, not alphabetical."""

EDITABLE = (
    "name",
    "description",
    "pipeline_id",
    "status",
    "priority",
    "category",
    "owner_id",
    "team_id",
    "source",
)
"""Fields a patch may change, in the order their timeline entries are written."""

_UNSET = object()


def search_text(name: str, description: str) -> str:
    """What ``q`` matches a ticket's own fields against: its name and description on two lines,
    lower-cased by Python (``str.lower``, as :func:`services.chassis.words.search_terms` lowers a
    query), so every database compares lower-case text with a plain, case-sensitive ``LIKE``:
    a quarter of what ``ILIKE`` costs PostgreSQL per row, the same answer on SQLite (whose own
    ``lower()`` knows only ASCII) and one trigram index instead of one per column. A term never
    holds a line break, so none matches across the two fields."""
    return f"{name}\n{description}".lower()


@dataclass(frozen=True)
class Stage:
    """A stage as a ticket's rules need it."""

    id: int
    pipeline_id: int
    state: str  # OPEN or CLOSED


@dataclass(frozen=True)
class Entry:
    """A timeline entry to write; ``old``/``new`` are plain values (JSON-encoded by the store)."""

    type: str
    field: str | None = None
    old: Any = _UNSET
    new: Any = _UNSET

    def columns(self) -> dict[str, Any]:
        """The entry's optional columns that are set (``old``/``new`` may legitimately be None)."""
        values: dict[str, Any] = {}
        if self.field is not None:
            values["field"] = self.field
        if self.old is not _UNSET:
            values["old"] = self.old
        if self.new is not _UNSET:
            values["new"] = self.new
        return values


@dataclass(frozen=True)
class Change:
    """What one action does to a ticket: column values (with the next version), entries, events.

    An empty change (nothing differs) writes nothing: no version, no entry, no event.
    """

    values: dict[str, Any] = field(default_factory=dict)
    entries: tuple[Entry, ...] = ()
    events: tuple[Event, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.values or self.entries or self.events)


NO_CHANGE = Change()


def diff(current: Mapping[str, Any], requested: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The fields whose requested value differs from the current one, as ``{field: (old, new)}``.

    Field order follows ``requested``; a patch that changes nothing yields ``{}``.
    """
    return {name: (current.get(name), new) for name, new in requested.items() if current.get(name) != new}


def closed_at_after(
    old_state: str, new_state: str, closed_at: dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """``closed_at`` after moving from a stage in ``old_state`` to one in ``new_state``.

    Entering a CLOSED stage stamps it, moving back to OPEN clears it, and moving
    between two CLOSED stages keeps the first closing time.
    """
    if new_state == "OPEN":
        return None
    if old_state == "CLOSED" and closed_at is not None:
        return closed_at
    return now


def event_stamp(caller: Caller, *, batch_id: str | None = None) -> dict[str, Any]:
    """What every event of a change made by ``caller`` says about how it was made (see the
    contract): a person or an integration, whether it notifies, and the bulk change it belongs to."""
    return {"actor_kind": caller.kind, "quiet": caller.quiet, "batch_id": batch_id}


@dataclass(frozen=True)
class NewTicket:
    """A ticket about to be created: its column values; its events once it has an id."""

    actor_id: int
    values: dict[str, Any]
    associations: dict[str, list[int]]

    def events(self, ticket_id: int) -> list[Event]:
        """``ticket_created``, and ``ticket_assigned`` when it starts with an owner."""
        v = self.values
        base = {"ticket_id": ticket_id, "actor_id": self.actor_id}
        created = {
            **base,
            "owner_id": v["owner_id"],
            "team_id": v["team_id"],
            "pipeline_id": v["pipeline_id"],
            "status": v["status"],
            "priority": v["priority"],
            "name": v["name"],
        }
        events = [Event(contract.TICKET_CREATED, created)]
        if v["owner_id"] is not None:
            assigned = {**base, "owner_id": v["owner_id"], "previous_owner_id": None}
            events.append(Event(contract.TICKET_ASSIGNED, assigned))
        return events

    ENTRIES = (Entry("created"),)


@dataclass(frozen=True)
class Ticket:
    """A ticket's state as its rules see it (``status`` is the stage id, ``state`` its OPEN/CLOSED)."""

    id: int
    name: str
    description: str
    pipeline_id: int
    status: int
    state: str
    priority: str
    category: str | None
    owner_id: int | None
    team_id: int | None
    source: str
    closed_at: dt.datetime | None
    version: int

    @staticmethod
    def open(*, actor_id: int, data: Mapping[str, Any], stage: Stage, now: dt.datetime) -> NewTicket:
        """A new ticket from a validated create body, in ``stage``, created by ``actor_id`` at ``now``."""
        priority = data.get("priority") or "medium"
        values = {
            "name": data["name"],
            "description": data.get("description") or "",
            "pipeline_id": stage.pipeline_id,
            "status": stage.id,
            "priority": priority,
            "category": data.get("category"),
            "owner_id": data.get("owner_id"),
            "team_id": data.get("team_id"),
            "source": data.get("source") or "api",
            "closed_at": now if stage.state == "CLOSED" else None,
            "version": 1,
        }
        values["search_text"] = search_text(values["name"], values["description"])
        given = data.get("associations") or {}
        associations = {kind: sorted(set(given.get(kind, []))) for kind in contract.ASSOCIATION_KINDS}
        return NewTicket(actor_id, values, associations)

    def fields(self) -> dict[str, Any]:
        """The editable fields' current values."""
        return {name: getattr(self, name) for name in EDITABLE}

    def change(
        self,
        *,
        actor_id: int,
        requested: Mapping[str, Any],
        stage: Stage | None,
        now: dt.datetime,
    ) -> Change:
        """Apply a patch (fields of ``contract.TicketPatchSchema``) whose stage is already resolved.

        ``stage`` is the stage the ticket would be in when the patch names a pipeline
        or a status (None otherwise). Events: ``ticket_updated`` for any change, and
        ``ticket_assigned``, ``ticket_status_changed``, ``ticket_closed`` or
        ``ticket_reopened`` as they apply.
        """
        target = {name: value for name, value in requested.items() if name in EDITABLE}
        if stage is not None:
            target["pipeline_id"], target["status"] = stage.pipeline_id, stage.id
        changed = diff(self.fields(), target)
        if not changed:
            return NO_CHANGE
        values: dict[str, Any] = {name: new for name, (_old, new) in changed.items()}
        new_state = stage.state if stage is not None else self.state
        if "status" in changed:
            values["closed_at"] = closed_at_after(self.state, new_state, self.closed_at, now)
        values["version"] = self.version + 1
        if "name" in changed or "description" in changed:
            values["search_text"] = search_text(
                values.get("name", self.name), values.get("description", self.description)
            )
        entries = tuple(Entry("property_changed", name, old, new) for name, (old, new) in changed.items())
        owner_id = values.get("owner_id", self.owner_id)
        base = {"ticket_id": self.id, "actor_id": actor_id}
        events = [
            Event(
                contract.TICKET_UPDATED,
                {
                    **base,
                    "changes": {name: [old, new] for name, (old, new) in changed.items()},
                    "owner_id": owner_id,
                    "version": self.version + 1,
                },
            )
        ]
        if "owner_id" in changed:
            old_owner, new_owner = changed["owner_id"]
            events.append(
                Event(
                    contract.TICKET_ASSIGNED, {**base, "owner_id": new_owner, "previous_owner_id": old_owner}
                )
            )
        if "status" in changed:
            old_status, new_status = changed["status"]
            events.append(
                Event(
                    contract.TICKET_STATUS_CHANGED,
                    {**base, "old_status": old_status, "new_status": new_status, "owner_id": owner_id},
                )
            )
            if self.state != new_state:
                kind = contract.TICKET_CLOSED if new_state == "CLOSED" else contract.TICKET_REOPENED
                events.append(Event(kind, {**base, "status": new_status, "owner_id": owner_id}))
        return Change(values, entries, tuple(events))

    def associate(self, *, actor_id: int, kind: str, ref_id: int, added: bool) -> Change:
        """A record was associated (``added``) or dissociated: a new version, an entry, an event."""
        entry = (
            Entry("association_added", kind, new=ref_id)
            if added
            else Entry("association_removed", kind, old=ref_id)
        )
        event = contract.TICKET_ASSOCIATION_ADDED if added else contract.TICKET_ASSOCIATION_REMOVED
        payload = {"ticket_id": self.id, "actor_id": actor_id, "kind": kind, "ref_id": ref_id}
        return Change({"version": self.version + 1}, (entry,), (Event(event, payload),))


def follow_change(ticket_id: int, user_id: int, *, following: bool) -> Change:
    """Someone started or stopped following: an entry and an event, but no new version."""
    kind, event = (
        ("followed", contract.TICKET_FOLLOWED) if following else ("unfollowed", contract.TICKET_UNFOLLOWED)
    )
    payload = {"ticket_id": ticket_id, "actor_id": user_id, "user_id": user_id}
    return Change({}, (Entry(kind),), (Event(event, payload),))


@dataclass(frozen=True)
class MessageEffect:
    """What a message on one of the ticket's threads does to the ticket.

    ``unread``: it becomes unread for everyone (a customer wrote). ``values``: reply-time
    columns to set. ``assign_to``: the replier, when the ticket had no owner. ``reopen``: the
    ticket was closed and its customer wrote again.
    """

    unread: bool
    values: dict[str, Any]
    assign_to: int | None
    reopen: bool = False


def message_effect(
    *,
    owner_id: int | None,
    first_reply_at: dt.datetime | None,
    kind: str,
    author_id: int | None,
    auto: str | None,
    at: dt.datetime,
    closed: bool = False,
) -> MessageEffect:
    """SPEC: a new customer message makes the ticket unread for everyone, and reopens it when it
    was ``closed`` (a support team's "the customer wrote back"); internal actions (notes) do not;
    automatic mail (bounces, auto-replies) changes nothing and never reopens; replying to an
    unassigned ticket assigns it to the replier. Reply times are kept for the SLA clocks."""
    if auto is not None:
        return MessageEffect(False, {}, None)
    if kind == "customer":
        return MessageEffect(True, {"last_customer_message_at": at}, None, reopen=closed)
    if kind == "reply":
        values: dict[str, Any] = {"last_agent_message_at": at}
        if first_reply_at is None:
            values["first_reply_at"] = at
        assign = author_id if owner_id is None and author_id else None
        return MessageEffect(False, values, assign)
    return MessageEffect(False, {}, None)


def message_entry(*, thread_id: int, message_id: int, kind: str, auto: str | None) -> Entry:
    """The timeline's record of a message on one of the ticket's threads (SPEC: the timeline has
    every message): ``field`` is its kind (customer, reply, note), ``new`` names the message and
    its thread, and says what automatic mail (a bounce, an auto-reply) it was."""
    new: dict[str, Any] = {"message_id": message_id, "thread_id": thread_id}
    if auto is not None:
        new["auto"] = auto
    return Entry("message", kind, new=new)


def thread_move_entry(
    *, thread_id: int, from_location: str, to_location: str, left: int | None, joined: int | None
) -> Entry:
    """The timeline's record of a thread moved between the inbox and the help desk (SPEC: moves),
    on the ticket it ``left`` or ``joined``: where it was and where it went, each with its ticket."""
    return Entry(
        "thread_moved",
        "thread",
        old={"thread_id": thread_id, "location": from_location, "ticket_id": left},
        new={"thread_id": thread_id, "location": to_location, "ticket_id": joined},
    )
