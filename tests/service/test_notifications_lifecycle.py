"""The notifications service follows merges and purges of tickets in its feeds, once per event."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from nameko.testing.services import worker_factory

from services.chassis.db import SessionFactory, make_engine
from services.notifications.service import NotificationsService
from services.notifications.store import NotificationStore

pytestmark = pytest.mark.db

BASE = {"occurred_at": "2026-12-01T10:00:00+00:00", "actor_id": 2}


def test_feed_items_follow_the_survivor_and_go_with_a_purge(make_db: Callable[[str], str]) -> None:
    engine = make_engine(make_db("notifications"))
    store = NotificationStore(SessionFactory(engine))
    for ticket_id in (10, 11, 12):
        store.add_feed_items(
            event_id=str(uuid.uuid4()), handler="h", kind="ticket_created", ticket_id=ticket_id, user_ids=[1]
        )
    service = worker_factory(NotificationsService, store=store)
    merged = {**BASE, "event_id": str(uuid.uuid4()), "ticket_id": 10, "merged_ticket_id": 11}
    service.handle_ticket_merged(merged)
    service.handle_ticket_merged(merged)  # a redelivery changes nothing
    assert sorted(i["ticket_id"] for i in store.feed(user_id=1, limit=10, cursor=None)["items"]) == [
        10,
        10,
        12,
    ]
    purged = {
        **BASE,
        "event_id": str(uuid.uuid4()),
        "actor_id": 0,
        "ticket_ids": [10],
        "absorbed_ticket_ids": [11],
    }
    service.handle_tickets_purged(purged)
    assert [i["ticket_id"] for i in store.feed(user_id=1, limit=10, cursor=None)["items"]] == [12]
    engine.dispose()
