"""The only module of the tickets service that talks to its database."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.chassis.db import Database, SessionFactory
from services.chassis.errors import Conflict, NotFound, ValidationFailed
from services.chassis.outbox import record_event, utcnow
from services.tickets import contract
from services.tickets.domain import Scope
from services.tickets.models import (
    associations,
    followers,
    idempotency,
    outbox,
    pipelines,
    reads,
    stages,
    tickets,
    timeline,
)

ASSOCIATION_KINDS = ("contacts", "companies", "deals")


def visible(scope: Scope) -> ColumnElement[bool]:
    """The access rule as a SQL condition on ``tickets`` (never fetch-then-filter)."""
    if scope.everything:
        return true()
    clauses: list[ColumnElement[bool]] = []
    if scope.owner_ids:
        clauses.append(tickets.c.owner_id.in_(sorted(scope.owner_ids)))
    if scope.unassigned:
        clauses.append(tickets.c.owner_id.is_(None))
    return or_(*clauses) if clauses else false()


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.isoformat()


class TicketStore:
    """Queries and changes of tickets; each public method is one transaction."""

    def __init__(self, db: SessionFactory) -> None:
        self.db = db

    # pipelines -----------------------------------------------------------
    def pipelines(self) -> list[dict[str, Any]]:
        with self.db.read() as s:
            result = []
            for p in s.execute(select(pipelines).order_by(pipelines.c.position, pipelines.c.id)):
                rows = s.execute(
                    select(stages).where(stages.c.pipeline_id == p.id).order_by(stages.c.position, stages.c.id)
                )
                result.append(
                    {"id": p.id, "label": p.label, "stages": [{"id": r.id, "label": r.label, "state": r.state} for r in rows]}
                )
            return result

    def _resolve_stage(self, s: Session, pipeline_id: int | None, stage_id: int | None) -> tuple[int, int, str]:
        """Validate pipeline/status and fill defaults: (pipeline_id, stage_id, state)."""
        if pipeline_id is None:
            if stage_id is not None:
                row = s.execute(select(stages).where(stages.c.id == stage_id)).first()
                if row is None:
                    raise ValidationFailed(errors={"status": [f"unknown status {stage_id}"]})
                return row.pipeline_id, row.id, row.state
            pipeline_id = s.scalar(select(pipelines.c.id).order_by(pipelines.c.position, pipelines.c.id).limit(1))
            if pipeline_id is None:
                raise ValidationFailed(errors={"pipeline_id": ["no pipeline is configured"]})
        elif s.execute(select(pipelines.c.id).where(pipelines.c.id == pipeline_id)).first() is None:
            raise ValidationFailed(errors={"pipeline_id": [f"unknown pipeline {pipeline_id}"]})
        if stage_id is None:
            row = s.execute(
                select(stages).where(stages.c.pipeline_id == pipeline_id).order_by(stages.c.position, stages.c.id).limit(1)
            ).first()
        else:
            row = s.execute(select(stages).where(stages.c.id == stage_id, stages.c.pipeline_id == pipeline_id)).first()
        if row is None:
            raise ValidationFailed(errors={"status": [f"unknown status {stage_id} for pipeline {pipeline_id}"]})
        return pipeline_id, row.id, row.state

    # tickets -------------------------------------------------------------
    def create_ticket(
        self, actor_id: int, data: dict[str, Any], idempotency_key: str | None, request_hash: str
    ) -> dict[str, Any]:
        """Create a ticket with its timeline entry, creator read mark and event, atomically.

        With an idempotency key, a replay returns the first response and the same
        key with another body is refused.
        """
        if idempotency_key:
            replay = self._replay(actor_id, idempotency_key, request_hash)
            if replay is not None:
                return replay
        now = utcnow()
        try:
            with self.db.transaction() as s:
                pipeline_id, stage_id, state = self._resolve_stage(s, data.get("pipeline_id"), data.get("status"))
                ticket_id = s.execute(
                    tickets.insert().values(
                        name=data["name"],
                        description=data.get("description") or "",
                        pipeline_id=pipeline_id,
                        stage_id=stage_id,
                        priority=data.get("priority", "medium"),
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
                ).inserted_primary_key[0]
                for kind in ASSOCIATION_KINDS:
                    for ref_id in sorted(set((data.get("associations") or {}).get(kind, []))):
                        s.execute(
                            associations.insert().values(
                                ticket_id=ticket_id, kind=kind, ref_id=ref_id, added_by=actor_id, added_at=now
                            )
                        )
                s.execute(reads.insert().values(ticket_id=ticket_id, user_id=actor_id, read_seq=1))
                s.execute(timeline.insert().values(ticket_id=ticket_id, type="created", actor_id=actor_id, at=now))
                record_event(
                    s,
                    outbox,
                    contract.TICKET_CREATED,
                    {
                        "ticket_id": ticket_id,
                        "actor_id": actor_id,
                        "owner_id": data.get("owner_id"),
                        "team_id": data.get("team_id"),
                        "pipeline_id": pipeline_id,
                        "status": stage_id,
                        "priority": data.get("priority", "medium"),
                        "name": data["name"],
                    },
                )
                ticket = self._ticket_dict(s, s.execute(select(tickets).where(tickets.c.id == ticket_id)).one(), actor_id)
                if idempotency_key:
                    s.execute(
                        idempotency.insert().values(
                            caller_id=actor_id,
                            key=idempotency_key,
                            operation="create_ticket",
                            request_hash=request_hash,
                            response=json.dumps(ticket),
                            created_at=now,
                        )
                    )
                return ticket
        except IntegrityError:
            # a concurrent request with the same key won the race: answer as a replay
            if idempotency_key:
                replay = self._replay(actor_id, idempotency_key, request_hash)
                if replay is not None:
                    return replay
            raise

    def _replay(self, actor_id: int, key: str, request_hash: str) -> dict[str, Any] | None:
        with self.db.read() as s:
            row = s.execute(
                select(idempotency).where(idempotency.c.caller_id == actor_id, idempotency.c.key == key)
            ).first()
        if row is None:
            return None
        if row.request_hash != request_hash:
            raise Conflict("This Idempotency-Key was already used with a different request.")
        return json.loads(row.response)  # type: ignore[no-any-return]

    def get_ticket(self, scope: Scope, user_id: int, ticket_id: int, mark_read: bool = True) -> dict[str, Any]:
        """The ticket if the scope allows it (else NotFound); opening it marks it read."""
        with self.db.transaction() as s:
            row = s.execute(
                select(tickets).where(tickets.c.id == ticket_id, tickets.c.deleted_at.is_(None), visible(scope))
            ).first()
            if row is None:
                raise NotFound(f"ticket {ticket_id} does not exist")
            if mark_read:
                self._mark_read(s, row.id, user_id, row.unread_seq)
            return self._ticket_dict(s, row, user_id)

    def _mark_read(self, s: Session, ticket_id: int, user_id: int, seq: int) -> None:
        updated = s.execute(
            reads.update().where(and_(reads.c.ticket_id == ticket_id, reads.c.user_id == user_id)).values(read_seq=seq)
        )
        if not updated.rowcount:  # type: ignore[attr-defined]
            s.execute(reads.insert().values(ticket_id=ticket_id, user_id=user_id, read_seq=seq))

    def _ticket_dict(self, s: Session, row: Any, user_id: int) -> dict[str, Any]:
        assoc: dict[str, list[int]] = {kind: [] for kind in ASSOCIATION_KINDS}
        for a in s.execute(
            select(associations.c.kind, associations.c.ref_id)
            .where(associations.c.ticket_id == row.id)
            .order_by(associations.c.kind, associations.c.ref_id)
        ):
            assoc[a.kind].append(a.ref_id)
        read_seq = s.scalar(select(reads.c.read_seq).where(reads.c.ticket_id == row.id, reads.c.user_id == user_id))
        following = s.execute(
            select(followers.c.user_id).where(followers.c.ticket_id == row.id, followers.c.user_id == user_id)
        ).first()
        merged = list(s.scalars(select(tickets.c.id).where(tickets.c.merged_into_id == row.id).order_by(tickets.c.id)))
        return {
            "id": row.id,
            "name": row.name,
            "description": row.description,
            "pipeline_id": row.pipeline_id,
            "status": row.stage_id,
            "priority": row.priority,
            "category": row.category,
            "owner_id": row.owner_id,
            "team_id": row.team_id,
            "source": row.source,
            "associations": assoc,
            "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at),
            "closed_at": _iso(row.closed_at),
            "version": row.version,
            "unread": read_seq is None or read_seq < row.unread_seq,
            "following": following is not None,
            "merged_ticket_ids": merged,
        }


class Store(Database):
    """Dependency giving workers a :class:`TicketStore`."""

    def get_dependency(self, worker_ctx: Any) -> TicketStore:  # type: ignore[override]
        return TicketStore(super().get_dependency(worker_ctx))
