"""Creating, reading and changing tickets, and their associations."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from services.chassis.errors import ValidationFailed
from services.chassis.idempotency import IdempotencyKey
from services.chassis.prepared import Prepared
from services.tickets.domain import EVERYTHING, Change, NewTicket, Scope, Ticket
from services.tickets.models import associations, reads, tickets
from services.tickets.store import queries
from services.tickets.store.base import Errors, Records, Stamp, absent, columns_of
from services.tickets.store.pipelines import Pipelines
from services.tickets.store.sla import Slas

SLA_FIELDS = frozenset({"priority", "pipeline_id", "status"})
"""Changes that move a ticket's SLA clocks (another policy, a pause, closing)."""


_INSERT_TICKET = Prepared(tickets.insert().returning(*queries.READ_COLUMNS))
_INSERT_ASSOCIATION = Prepared(associations.insert())
_INSERT_READ = Prepared(reads.insert())
"""Every create runs these; built and compiled once (:mod:`services.chassis.prepared`)."""


@dataclass(frozen=True)
class Inserted:
    """A ticket just inserted: the columns the insert returned, and whether they are still its
    columns (``fresh``: no SLA refresh wrote to the row afterwards)."""

    columns: Any  # a row of the insert's RETURNING: every column by name
    fresh: bool

    @property
    def id(self) -> int:
        return int(self.columns.id)


class Tickets:
    """A ticket's life: creation, reads that mark it read, edits, associations."""

    def __init__(self, records: Records, *, pipelines: Pipelines, slas: Slas) -> None:
        self.r = records
        self.db = records.db
        self.pipelines = pipelines
        self.slas = slas

    def replay(self, key: IdempotencyKey | None) -> dict[str, Any] | None:
        """The first answer to ``key`` if it was used (Conflict if used with another body)."""
        return self.r.idempotency.replay(key)

    def create(
        self,
        *,
        actor_id: int,
        data: dict[str, Any],
        key: IdempotencyKey | None = None,
        invalid: Errors | None = None,
        stamp: Stamp | None = None,
    ) -> dict[str, Any]:
        """Create a ticket with its timeline entry, creator read mark and events, atomically.

        ``invalid`` holds problems the caller found beforehand (an owner the permissions
        service refused); they are reported together with the store's own. With an
        idempotency key, a replay returns the first response and the same key with
        another body is refused.
        """

        def work(s: Session) -> dict[str, Any]:
            now = self.r.clock.now()
            row, new = self.insert(s, actor_id=actor_id, data=data, invalid=invalid, extra={})
            opened = Change(entries=new.ENTRIES, events=tuple(new.events(row.id)))
            self.r.write_entries(s, row.id, opened, actor_id, now, stamp=stamp)
            if row.fresh:
                return self.r.inserted_ticket(row.columns, new.associations)
            return self.r.new_ticket(s, actor_id, row.id, new.associations)

        return self.r.idempotency.run(key, work, grouped=True)

    def insert(
        self,
        s: Session,
        *,
        actor_id: int,
        data: dict[str, Any],
        invalid: Errors | None,
        extra: dict[str, Any],
    ) -> tuple[Inserted, NewTicket]:
        """A new ticket's row, associations and creator read mark, in the caller's transaction
        (``extra`` columns too); its entries and events are the caller's to write. The row as the
        insert returned it comes back too (``fresh`` unless an SLA refresh wrote to it afterwards)."""
        now = self.r.clock.now()
        stage, errors = self.pipelines.resolve_stage(s, data.get("pipeline_id"), data.get("status"))
        errors = {**(invalid or {}), **errors}
        if errors or stage is None:
            raise ValidationFailed(errors=errors)
        new = Ticket.open(actor_id=actor_id, data=data, stage=stage, now=now)
        values = {**columns_of(new.values), **extra}
        clocks = self.slas.opening(s, values=values, now=now)
        row = {
            **values,
            **(clocks or {}),
            "created_by": actor_id,
            "created_at": now,
            "updated_at": now,
            "unread_seq": 1,
        }
        inserted = Inserted(_INSERT_TICKET.run(s, row).one(), fresh=clocks is not None)
        ticket_id = inserted.id
        linked = [
            {"ticket_id": ticket_id, "kind": kind, "ref_id": ref_id, "added_by": actor_id, "added_at": now}
            for kind, ref_ids in new.associations.items()
            for ref_id in ref_ids
        ]
        if linked:
            _INSERT_ASSOCIATION.many(s, linked)
        _INSERT_READ.run(s, {"ticket_id": ticket_id, "user_id": actor_id, "read_seq": 1})
        if clocks is None:
            self.slas.refresh(s, ticket_id, now)
        return inserted, new

    def get(self, *, scope: Scope, user_id: int, ticket_id: int, mark_read: bool = True) -> dict[str, Any]:
        """The ticket if the scope allows it (else NotFound; Moved, naming the survivor, if it was merged
        away); opening it marks it read."""
        with self.db.read() as s:
            row = queries.run(s, queries.one_ticket(scope, user_id, ticket_id)).first()
            if row is None or row.merged_into_id is not None:
                raise absent(s, scope, ticket_id)
            ticket = self.r.dicts(s, [row])[0]
        if mark_read and row.unread:  # a transaction only to mark it read: most opens need none
            with self.db.transaction() as s:
                self.r.set_read(s, ticket_id, user_id, row.unread_seq)
            ticket["unread"] = False
        return ticket

    def update(
        self,
        *,
        scope: Scope,
        actor_id: int,
        ticket_id: int,
        changes: dict[str, Any],
        expected_versions: Iterable[int] | None = None,
        invalid: Errors | None = None,
        stamp: Stamp | None = None,
    ) -> dict[str, Any]:
        """Apply ``changes`` (fields of TicketPatchSchema) if the ticket is still at an expected version.

        Order of refusals: invisible (404), stale version (412), invalid (422). What
        the change does is the :class:`Ticket`'s to decide; a patch that changes
        nothing writes nothing.
        """
        now = self.r.clock.now()
        with self.db.transaction() as s:
            ticket = self.r.locked(s, scope, ticket_id, expected_versions)
            errors = dict(invalid or {})
            stage = None
            if "pipeline_id" in changes or "status" in changes:
                pipeline_id = changes.get("pipeline_id", ticket.pipeline_id)
                same_pipeline = pipeline_id == ticket.pipeline_id
                stage_id = changes.get("status", ticket.status if same_pipeline else None)
                stage, problems = self.pipelines.resolve_stage(s, pipeline_id, stage_id)
                errors.update(problems)
            if errors:
                raise ValidationFailed(errors=errors)
            change = ticket.change(actor_id=actor_id, requested=changes, stage=stage, now=now)
            self.r.save(s, ticket, change, actor_id, now, stamp=stamp)
            if change.values.keys() & SLA_FIELDS:
                self.slas.refresh(s, ticket_id, now)
            return self.r.ticket(s, EVERYTHING, actor_id, ticket_id)

    def add_association(
        self,
        *,
        scope: Scope,
        actor_id: int,
        ticket_id: int,
        kind: str,
        ref_id: int,
        stamp: Stamp | None = None,
    ) -> dict[str, Any]:
        """Associate a record (idempotent: an existing association changes nothing)."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            ticket = self.r.locked(s, scope, ticket_id)
            values = {
                "ticket_id": ticket_id,
                "kind": kind,
                "ref_id": ref_id,
                "added_by": actor_id,
                "added_at": now,
            }
            if self.r.insert_new(s, associations, values, ["ticket_id", "kind", "ref_id"]):
                change = ticket.associate(actor_id=actor_id, kind=kind, ref_id=ref_id, added=True)
                self.r.save(s, ticket, change, actor_id, now, stamp=stamp)
            return self.r.ticket(s, EVERYTHING, actor_id, ticket_id)

    def remove_association(
        self,
        *,
        scope: Scope,
        actor_id: int,
        ticket_id: int,
        kind: str,
        ref_id: int,
        stamp: Stamp | None = None,
    ) -> dict[str, Any]:
        """Remove an association (idempotent: a missing one changes nothing)."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            ticket = self.r.locked(s, scope, ticket_id)
            gone = s.execute(
                delete(associations).where(
                    associations.c.ticket_id == ticket_id,
                    associations.c.kind == kind,
                    associations.c.ref_id == ref_id,
                )
            )
            if gone.rowcount:  # type: ignore[attr-defined]
                change = ticket.associate(actor_id=actor_id, kind=kind, ref_id=ref_id, added=False)
                self.r.save(s, ticket, change, actor_id, now, stamp=stamp)
            return self.r.ticket(s, EVERYTHING, actor_id, ticket_id)
