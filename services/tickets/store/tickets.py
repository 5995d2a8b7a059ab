"""Creating, reading and changing tickets, and their associations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.chassis.errors import NotFound, ValidationFailed
from services.chassis.outbox import record_event, utcnow
from services.tickets import contract
from services.tickets.domain import PRIORITY_RANK, Scope, closed_at_after, diff
from services.tickets.models import associations, outbox, reads, stages, tickets, timeline
from services.tickets.store import queries
from services.tickets.store.base import ASSOCIATION_KINDS, EVERYTHING, Errors, to_json
from services.tickets.store.pipelines import PipelineStore

# wire field -> tickets column, for the editable fields of TicketPatchSchema
COLUMNS = {
    "name": "name",
    "description": "description",
    "pipeline_id": "pipeline_id",
    "status": "stage_id",
    "priority": "priority",
    "category": "category",
    "owner_id": "owner_id",
    "team_id": "team_id",
    "source": "source",
}


class TicketWrites(PipelineStore):
    """A ticket's life: creation, reads that mark it read, edits, associations."""

    def create_ticket(
        self,
        actor_id: int,
        data: dict[str, Any],
        key: str | None,
        request_hash: str,
        invalid: Errors | None = None,
    ) -> dict[str, Any]:
        """Create a ticket with its timeline entry, creator read mark and events, atomically.

        ``invalid`` holds problems the caller found beforehand (an owner the permissions
        service refused); they are reported together with the store's own. With an
        idempotency key, a replay returns the first response and the same key with
        another body is refused.
        """

        def work(s: Session) -> dict[str, Any]:
            now = utcnow()
            resolved, errors = self._resolve_stage(s, data.get("pipeline_id"), data.get("status"))
            errors = {**(invalid or {}), **errors}
            if errors or resolved is None:
                raise ValidationFailed(errors=errors)
            pipeline_id, stage_id, state = resolved
            priority = data.get("priority", "medium")
            ticket_id = s.scalar(
                tickets.insert()
                .values(
                    name=data["name"],
                    description=data.get("description") or "",
                    pipeline_id=pipeline_id,
                    stage_id=stage_id,
                    priority=priority,
                    priority_rank=PRIORITY_RANK[priority],
                    category=data.get("category"),
                    owner_id=data.get("owner_id"),
                    team_id=data.get("team_id"),
                    source=data.get("source", "api"),
                    created_by=actor_id,
                    created_at=now,
                    updated_at=now,
                    closed_at=now if state == "CLOSED" else None,
                    version=1,
                    unread_seq=1,
                )
                .returning(tickets.c.id)
            )
            for kind in ASSOCIATION_KINDS:
                for ref_id in sorted(set((data.get("associations") or {}).get(kind, []))):
                    s.execute(
                        associations.insert().values(
                            ticket_id=ticket_id, kind=kind, ref_id=ref_id, added_by=actor_id, added_at=now
                        )
                    )
            s.execute(reads.insert().values(ticket_id=ticket_id, user_id=actor_id, read_seq=1))
            s.execute(
                timeline.insert().values(ticket_id=ticket_id, type="created", actor_id=actor_id, at=now)
            )
            base = {"ticket_id": ticket_id, "actor_id": actor_id}
            record_event(
                s,
                outbox,
                contract.TICKET_CREATED,
                {
                    **base,
                    "owner_id": data.get("owner_id"),
                    "team_id": data.get("team_id"),
                    "pipeline_id": pipeline_id,
                    "status": stage_id,
                    "priority": priority,
                    "name": data["name"],
                },
            )
            if data.get("owner_id") is not None:
                record_event(
                    s,
                    outbox,
                    contract.TICKET_ASSIGNED,
                    {**base, "owner_id": data["owner_id"], "previous_owner_id": None},
                )
            return self._ticket(s, EVERYTHING, actor_id, ticket_id)

        return self._idempotent(actor_id, key, "create_ticket", request_hash, work)

    def get_ticket(
        self, scope: Scope, user_id: int, ticket_id: int, mark_read: bool = True
    ) -> dict[str, Any]:
        """The ticket if the scope allows it (else NotFound); opening it marks it read."""
        with self.db.transaction() as s:
            row = s.execute(queries.one_ticket(scope, user_id, ticket_id)).first()
            if row is None:
                raise NotFound(f"ticket {ticket_id} does not exist")
            ticket = self._dicts(s, [row])[0]
            if mark_read and row.unread:  # no write when it is already read
                self._set_read(s, ticket_id, user_id, row.unread_seq)
                ticket["unread"] = False
            return ticket

    def update_ticket(
        self,
        scope: Scope,
        actor_id: int,
        ticket_id: int,
        changes: dict[str, Any],
        expected_versions: Iterable[int] | None = None,
        invalid: Errors | None = None,
    ) -> dict[str, Any]:
        """Apply ``changes`` (fields of TicketPatchSchema) if the ticket is still at an expected version.

        Order of refusals: invisible (404), stale version (412), invalid (422). A patch
        that changes nothing changes nothing (no version bump, no event). Otherwise the
        version goes up by one, each changed field gets a timeline entry, and the
        events ``ticket_updated`` (+ ``ticket_assigned``, ``ticket_status_changed``,
        ``ticket_closed``/``ticket_reopened`` as they apply) are recorded.
        """
        now = utcnow()
        with self.db.transaction() as s:
            row = self._locked(s, scope, ticket_id, expected_versions)
            target = {field: value for field, value in changes.items() if field in COLUMNS}
            errors = dict(invalid or {})
            new_state = None
            if "pipeline_id" in target or "status" in target:
                pipeline_id = target.get("pipeline_id", row.pipeline_id)
                stage_id = target.get("status", row.stage_id if pipeline_id == row.pipeline_id else None)
                resolved, problems = self._resolve_stage(s, pipeline_id, stage_id)
                errors.update(problems)
                if resolved is not None:
                    target["pipeline_id"], target["status"], new_state = resolved
            if errors:
                raise ValidationFailed(errors=errors)
            changed = diff({field: getattr(row, column) for field, column in COLUMNS.items()}, target)
            if changed:
                self._apply(s, row, actor_id, changed, new_state, now)
            return self._ticket(s, EVERYTHING, actor_id, ticket_id)

    def _apply(
        self,
        s: Session,
        row: Any,
        actor_id: int,
        changed: dict[str, tuple[Any, Any]],
        new_state: str | None,
        now: dt.datetime,
    ) -> None:
        values: dict[str, Any] = {COLUMNS[field]: new for field, (_old, new) in changed.items()}
        if "priority" in changed:
            values["priority_rank"] = PRIORITY_RANK[changed["priority"][1]]
        old_state = None
        if "status" in changed and new_state is not None:
            old_state = s.scalar(select(stages.c.state).where(stages.c.id == row.stage_id))
            values["closed_at"] = closed_at_after(old_state or "OPEN", new_state, row.closed_at, now)
        self._bump(s, row, now, values)
        for field, (old, new) in changed.items():
            s.execute(
                timeline.insert().values(
                    ticket_id=row.id,
                    type="property_changed",
                    actor_id=actor_id,
                    at=now,
                    field=field,
                    old=to_json(old),
                    new=to_json(new),
                )
            )
        owner_id = changed.get("owner_id", (None, row.owner_id))[1]
        base = {"ticket_id": row.id, "actor_id": actor_id}
        updated = {"changes": {f: [old, new] for f, (old, new) in changed.items()}, "owner_id": owner_id}
        record_event(s, outbox, contract.TICKET_UPDATED, {**base, **updated, "version": row.version + 1})
        if "owner_id" in changed:
            old_owner, new_owner = changed["owner_id"]
            record_event(
                s,
                outbox,
                contract.TICKET_ASSIGNED,
                {**base, "owner_id": new_owner, "previous_owner_id": old_owner},
            )
        if "status" in changed:
            old_status, new_status = changed["status"]
            record_event(
                s,
                outbox,
                contract.TICKET_STATUS_CHANGED,
                {**base, "old_status": old_status, "new_status": new_status, "owner_id": owner_id},
            )
            if old_state != new_state:
                event = contract.TICKET_CLOSED if new_state == "CLOSED" else contract.TICKET_REOPENED
                record_event(s, outbox, event, {**base, "status": new_status, "owner_id": owner_id})

    def add_association(
        self, scope: Scope, actor_id: int, ticket_id: int, kind: str, ref_id: int
    ) -> dict[str, Any]:
        """Associate a record (idempotent: an existing association changes nothing)."""
        now = utcnow()
        with self.db.transaction() as s:
            row = self._locked(s, scope, ticket_id)
            values = {
                "ticket_id": ticket_id,
                "kind": kind,
                "ref_id": ref_id,
                "added_by": actor_id,
                "added_at": now,
            }
            if self._insert_new(s, associations, values, ["ticket_id", "kind", "ref_id"]):
                self._association_changed(s, row, actor_id, kind, ref_id, added=True, now=now)
            return self._ticket(s, EVERYTHING, actor_id, ticket_id)

    def remove_association(
        self, scope: Scope, actor_id: int, ticket_id: int, kind: str, ref_id: int
    ) -> dict[str, Any]:
        """Remove an association (idempotent: a missing one changes nothing)."""
        now = utcnow()
        with self.db.transaction() as s:
            row = self._locked(s, scope, ticket_id)
            gone = s.execute(
                delete(associations).where(
                    associations.c.ticket_id == ticket_id,
                    associations.c.kind == kind,
                    associations.c.ref_id == ref_id,
                )
            )
            if gone.rowcount:  # type: ignore[attr-defined]
                self._association_changed(s, row, actor_id, kind, ref_id, added=False, now=now)
            return self._ticket(s, EVERYTHING, actor_id, ticket_id)

    def _association_changed(
        self, s: Session, row: Any, actor_id: int, kind: str, ref_id: int, *, added: bool, now: dt.datetime
    ) -> None:
        self._bump(s, row, now)
        entry = {"new": to_json(ref_id)} if added else {"old": to_json(ref_id)}
        kind_of_entry = "association_added" if added else "association_removed"
        s.execute(
            timeline.insert().values(
                ticket_id=row.id, type=kind_of_entry, actor_id=actor_id, at=now, field=kind, **entry
            )
        )
        event = contract.TICKET_ASSOCIATION_ADDED if added else contract.TICKET_ASSOCIATION_REMOVED
        record_event(
            s, outbox, event, {"ticket_id": row.id, "actor_id": actor_id, "kind": kind, "ref_id": ref_id}
        )
