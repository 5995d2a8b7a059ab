"""Housekeeping of the chassis's own tables: what the outbox, the inbox and idempotency keep.

Every service that publishes, consumes or accepts ``Idempotency-Key`` accumulates rows that
are only needed for a while: outbox rows once published, processed-event ids once no broker
could redeliver that event, idempotency keys once no client would replay that request. The
retention service decides when (an age, from its configuration) and asks each service to
:func:`sweep`; the service deletes at most ``limit`` rows of each table per call, so one call
never holds a long transaction, and the caller repeats until nothing is left.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import Table, delete, select, tuple_

from services.chassis.db import SessionFactory

MAX_SWEEP = 5000
"""The most rows of one table a single :func:`sweep` call may delete."""


def sweep(
    db: SessionFactory,
    tables: Mapping[str, Table],
    *,
    cutoff: dt.datetime,
    limit: int,
) -> dict[str, int]:
    """Delete up to ``limit`` rows older than ``cutoff`` from each chassis table the service has.

    ``tables`` names the service's ``outbox``, ``processed_events`` and ``idempotency_keys``
    tables (any may be absent). Unpublished outbox rows are never deleted, whatever their
    age. Returns how many rows went from each table; zero everywhere means done.
    """
    limit = max(1, min(int(limit), MAX_SWEEP))
    found: dict[str, int] = {}
    for name, table in tables.items():
        found[name] = _sweep_one(db, name, table, cutoff, limit)
    return found


RULES = {
    "outbox": "published_at",
    "processed_events": "processed_at",
    "idempotency_keys": "created_at",
}
"""Each chassis table and the moment a row of it stops being needed after."""


def _sweep_one(db: SessionFactory, name: str, table: Table, cutoff: dt.datetime, limit: int) -> int:
    if name not in RULES:
        raise ValueError(f"no housekeeping rule for table {name!r}")
    moment = table.c[RULES[name]]
    primary = tuple_(*table.primary_key.columns)
    with db.transaction() as s:
        keys = s.execute(
            select(*table.primary_key.columns).where(moment.is_not(None), moment < cutoff).limit(limit)
        ).all()
        if keys:
            s.execute(delete(table).where(primary.in_([tuple(k) for k in keys])))
        return len(keys)
