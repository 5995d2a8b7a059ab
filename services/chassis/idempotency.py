"""Idempotency keys: a create that was answered once is answered the same way when replayed.

A service that accepts ``Idempotency-Key`` adds the ``idempotency_keys`` table to its
metadata with :func:`define_idempotency` and runs each keyed write through
:meth:`Idempotency.run`: the first request does the work and stores its answer in
the same transaction; a replay gets that answer back, marked with
:data:`REPLAYED` so the gateway can say ``Idempotent-Replayed: true``. Keys are per
caller and per operation; the same key with another request is refused with
Conflict. Two concurrent twins race on the primary key: the loser answers as a
replay of the winner.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.chassis.clock import SYSTEM_CLOCK, Clock
from services.chassis.db import SessionFactory
from services.chassis.errors import Conflict, ValidationFailed

MAX_KEY_LENGTH = 200

REPLAYED = "_idempotent_replayed"
"""Key set to True in an answer that is a replay (the gateway turns it into a header)."""


def define_idempotency(metadata: MetaData) -> Table:
    """Add the ``idempotency_keys`` table to a service's metadata (its migrations create it)."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("caller_id", Integer, primary_key=True),
        Column("key", String(MAX_KEY_LENGTH), primary_key=True),
        Column("operation", String(50), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("response", Text, nullable=False),  # JSON
        Column("created_at", DateTime(timezone=True), nullable=False),
    )


def request_hash(operation: str, payload: Any) -> str:
    """Fingerprint of a request, to refuse an idempotency key reused with another body."""
    text = json.dumps([operation, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class IdempotencyKey:
    """One caller's key for one operation, with the fingerprint of the request it came with."""

    caller_id: int
    key: str
    operation: str
    fingerprint: str

    @classmethod
    def of(cls, caller_id: int, key: Any, operation: str, payload: Any) -> IdempotencyKey | None:
        """The key of a request, None when the client sent none; 422 for a key that is not text."""
        if key is None or key == "":
            return None
        if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise ValidationFailed(
                errors={"Idempotency-Key": [f"must be printable text of at most {MAX_KEY_LENGTH} characters"]}
            )
        return cls(caller_id, key, operation, request_hash(operation, payload))


class Idempotency:
    """Runs keyed writes once; see the module docstring."""

    def __init__(self, db: SessionFactory, table: Table, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.table = table
        self.clock = clock

    def replay(self, key: IdempotencyKey | None) -> dict[str, Any] | None:
        """The first answer to ``key`` (marked :data:`REPLAYED`), None if unused; Conflict if misused."""
        if key is None:
            return None
        with self.db.read() as s:
            return self.replay_in(s, key)

    def replay_in(self, s: Session, key: IdempotencyKey) -> dict[str, Any] | None:
        table = self.table
        row = s.execute(
            select(table).where(table.c.caller_id == key.caller_id, table.c.key == key.key)
        ).first()
        if row is None:
            return None
        if row.request_hash != key.fingerprint or row.operation != key.operation:
            raise Conflict("This Idempotency-Key was already used with a different request.")
        answer: dict[str, Any] = json.loads(row.response)
        answer[REPLAYED] = True
        return answer

    def remember(self, s: Session, key: IdempotencyKey | None, response: Mapping[str, Any]) -> None:
        """Store ``response`` under ``key`` in the caller's transaction (nothing without a key)."""
        if key is None:
            return
        s.execute(
            self.table.insert().values(
                caller_id=key.caller_id,
                key=key.key,
                operation=key.operation,
                request_hash=key.fingerprint,
                response=json.dumps(response),
                created_at=self.clock.now(),
            )
        )

    def run(
        self, key: IdempotencyKey | None, work: Callable[[Session], dict[str, Any]], *, grouped: bool = False
    ) -> dict[str, Any]:
        """``work(session)`` in a transaction that also remembers its answer; a replay skips the work.
        ``grouped``: the transaction may be shared with concurrent writes of this process
        (:meth:`SessionFactory.grouped`; ``work`` must then only talk to the database)."""
        first = self.replay(key)
        if first is not None:
            return first

        def remembered(s: Session) -> dict[str, Any]:
            result = work(s)
            self.remember(s, key, result)
            return result

        try:
            if grouped:
                return self.db.grouped(remembered)
            with self.db.transaction() as s:
                return remembered(s)
        except IntegrityError:
            first = self.replay(key)  # a concurrent twin with the same key won the race
            if first is not None:
                return first
            raise
