"""What every part of the tickets store shares: the session factory, idempotent creation,
finding a visible ticket, version bumps and the wire form of ticket rows."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.chassis import idempotency as idempotency_keys
from services.chassis.db import SessionFactory
from services.chassis.errors import Conflict, NotFound, PreconditionFailed
from services.tickets import contract
from services.tickets.domain import Scope
from services.tickets.models import associations, idempotency, reads, tickets
from services.tickets.store import queries

ASSOCIATION_KINDS = contract.ASSOCIATION_KINDS
EVERYTHING = Scope(everything=True)
"""For reading back a ticket the caller has just changed (a new owner may take it out of their scope)."""

Errors = dict[str, list[str]]


def to_json(value: Any) -> str:
    return json.dumps(value)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def upsert(s: Session) -> Any:
    """The dialect's INSERT with ON CONFLICT (both SQLite and PostgreSQL have it)."""
    return postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert


class StoreBase:
    """The session factory and the helpers the store's parts share."""

    def __init__(self, db: SessionFactory) -> None:
        self.db = db

    def replay(self, actor_id: int, key: str | None, request_hash: str) -> dict[str, Any] | None:
        """The first response to ``key`` if it was used; Conflict if it was used with another body."""
        if not key:
            return None
        with self.db.read() as s:
            return idempotency_keys.replay(s, idempotency, actor_id, key, request_hash)

    def _idempotent(
        self,
        actor_id: int,
        key: str | None,
        operation: str,
        request_hash: str,
        work: Callable[[Session], dict[str, Any]],
    ) -> dict[str, Any]:
        """Run ``work`` in a transaction that also remembers its response under ``key``."""
        first = self.replay(actor_id, key, request_hash)
        if first is not None:
            return first
        try:
            with self.db.transaction() as s:
                result = work(s)
                if key:
                    idempotency_keys.remember(s, idempotency, actor_id, key, operation, request_hash, result)
            return result
        except IntegrityError:
            # a concurrent request with the same key won the race: answer as a replay
            first = self.replay(actor_id, key, request_hash)
            if first is not None:
                return first
            raise

    def _visible_id(self, s: Session, scope: Scope, ticket_id: int, column: Any = tickets.c.id) -> Any:
        """``column`` of the ticket if it is live and visible, else NotFound."""
        found = s.execute(
            select(column).where(tickets.c.id == ticket_id, queries.live(), queries.visible(scope))
        ).first()
        if found is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        return found[0]

    def _locked(
        self, s: Session, scope: Scope, ticket_id: int, expected_versions: Iterable[int] | None = None
    ) -> Any:
        """The visible ticket's row, locked for this transaction (PostgreSQL), checked against If-Match."""
        row = s.execute(
            select(tickets)
            .where(tickets.c.id == ticket_id, queries.live(), queries.visible(scope))
            .with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        if expected_versions is not None and row.version not in set(expected_versions):
            raise PreconditionFailed(
                f"ticket {ticket_id} is at version {row.version}; reload it and try again.",
                current_version=row.version,
            )
        return row

    def _bump(self, s: Session, row: Any, now: dt.datetime, values: dict[str, Any] | None = None) -> None:
        """Write ``values`` as the next version (compare-and-set on the version read)."""
        result = s.execute(
            update(tickets)
            .where(tickets.c.id == row.id, tickets.c.version == row.version)
            .values(**(values or {}), version=row.version + 1, updated_at=now)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"ticket {row.id} changed while this request ran; try again.")

    def _ticket(self, s: Session, scope: Scope, user_id: int, ticket_id: int) -> dict[str, Any]:
        row = s.execute(queries.one_ticket(scope, user_id, ticket_id)).first()
        if row is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        return self._dicts(s, [row])[0]

    def _dicts(self, s: Session, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """Wire forms of ticket rows, with associations and merged ids in one query each."""
        ids = [r.id for r in rows]
        if not ids:
            return []
        assoc: dict[int, dict[str, list[int]]] = {i: {kind: [] for kind in ASSOCIATION_KINDS} for i in ids}
        for a in s.execute(
            select(associations.c.ticket_id, associations.c.kind, associations.c.ref_id)
            .where(associations.c.ticket_id.in_(ids))
            .order_by(associations.c.ticket_id, associations.c.kind, associations.c.ref_id)
        ):
            assoc[a.ticket_id][a.kind].append(a.ref_id)
        merged: dict[int, list[int]] = defaultdict(list)
        for m in s.execute(
            select(tickets.c.id, tickets.c.merged_into_id)
            .where(tickets.c.merged_into_id.in_(ids))
            .order_by(tickets.c.id)
        ):
            merged[m.merged_into_id].append(m.id)
        return [queries.ticket_dict(r, assoc[r.id], merged[r.id]) for r in rows]

    def _insert_new(self, s: Session, table: Table, values: dict[str, Any], key: list[str]) -> bool:
        """Insert unless a row with the same ``key`` exists (race-free); True if inserted."""
        statement = upsert(s)(table).values(**values).on_conflict_do_nothing(index_elements=key)
        return bool(s.execute(statement).rowcount)  # type: ignore[attr-defined]

    def _set_read(self, s: Session, ticket_id: int, user_id: int, seq: int) -> None:
        statement = upsert(s)(reads).values(ticket_id=ticket_id, user_id=user_id, read_seq=seq)
        s.execute(
            statement.on_conflict_do_update(
                index_elements=[reads.c.ticket_id, reads.c.user_id], set_={"read_seq": seq}
            )
        )
