"""Housekeeping of the chassis tables: old published outbox rows, processed-event ids and
idempotency keys go in bounded batches; unpublished rows never do."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from services.chassis.errors import Forbidden
from services.chassis.housekeeping import sweep
from services.tickets.models import idempotency, outbox, processed_events
from tests.service.lifecycle_harness import AGENT, SYSTEM, World

pytestmark = pytest.mark.db


def test_old_bookkeeping_goes_in_bounded_batches_and_unpublished_rows_stay(world: World) -> None:
    for n in range(5):
        world.tickets(AGENT).create_ticket({"name": f"t{n}"}, idempotency_key=f"k{n}")
    with world.tickets_engine.begin() as conn:
        conn.execute(sa.text("UPDATE outbox SET published_at = created_at WHERE id <= 3"))
        conn.execute(
            sa.text("INSERT INTO processed_events (event_id, handler, processed_at) VALUES ('e1', 'h', :t)"),
            {"t": world.clock.now()},
        )
    later = world.clock.now() + dt.timedelta(days=31)
    tables = {"outbox": outbox.table, "processed_events": processed_events, "idempotency_keys": idempotency}
    first = sweep(world.tickets_store.db, tables, cutoff=later, limit=2)
    assert first == {"outbox": 2, "processed_events": 1, "idempotency_keys": 2}
    second = world.tickets(SYSTEM).housekeep(later.isoformat(), 100)
    assert second == {"outbox": 1, "processed_events": 0, "idempotency_keys": 3}
    with world.tickets_engine.connect() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL")).scalar()
    assert left == len(world.events("tickets")) and left > 0
    assert world.tickets(SYSTEM).housekeep(later.isoformat(), 100) == {
        "outbox": 0,
        "processed_events": 0,
        "idempotency_keys": 0,
    }


def test_housekeeping_is_for_services_only(world: World) -> None:
    with pytest.raises(Forbidden):
        world.tickets(AGENT).housekeep(world.clock.now().isoformat(), 10)
