"""Idempotency keys: a create that was answered once is answered the same way when replayed.

A service that accepts ``Idempotency-Key`` adds the ``idempotency_keys`` table to its
metadata with :func:`define_idempotency`, stores the response with :func:`remember`
in the same transaction as the change, and looks for an earlier answer with
:func:`replay` first. Keys are per caller; the same key with another request
(:func:`request_hash` differs) is refused with Conflict.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, select
from sqlalchemy.orm import Session

from services.chassis.errors import Conflict
from services.chassis.outbox import utcnow


def define_idempotency(metadata: MetaData) -> Table:
    """Add the ``idempotency_keys`` table to a service's metadata (its migrations create it)."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("caller_id", Integer, primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("operation", String(50), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("response", Text, nullable=False),  # JSON
        Column("created_at", DateTime(timezone=True), nullable=False),
    )


def request_hash(operation: str, payload: Mapping[str, Any]) -> str:
    """Fingerprint of a request, to refuse an idempotency key reused with another body."""
    text = json.dumps([operation, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def replay(
    session: Session,
    table: Table,
    caller_id: int,
    key: str,
    fingerprint: str,
    operation: str | None = None,
) -> dict[str, Any] | None:
    """The first response to ``key``, None if unused; Conflict if it was used for another request."""
    row = session.execute(select(table).where(table.c.caller_id == caller_id, table.c.key == key)).first()
    if row is None:
        return None
    if row.request_hash != fingerprint or (operation is not None and row.operation != operation):
        raise Conflict("This Idempotency-Key was already used with a different request.")
    return json.loads(row.response)  # type: ignore[no-any-return]


def remember(
    session: Session,
    table: Table,
    caller_id: int,
    key: str,
    operation: str,
    fingerprint: str,
    response: dict[str, Any],
) -> None:
    """Store ``response`` under ``key`` in the caller's transaction."""
    session.execute(
        table.insert().values(
            caller_id=caller_id,
            key=key,
            operation=operation,
            request_hash=fingerprint,
            response=json.dumps(response),
            created_at=utcnow(),
        )
    )
