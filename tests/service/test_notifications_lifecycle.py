"""The notifications service follows merges and purges of tickets in its feeds, once per event:
a merged-away ticket's notifications name the survivor, a purged ticket's go (a bulk change's
notification keeps its other tickets)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.service.notifications_harness import (
    ADMIN,
    AGENT,
    OTHER,
    FakeTicket,
    Notifications,
    event_base,
    local_notifications,
    ticket_created,
    ticket_updated,
)

pytestmark = pytest.mark.db


@pytest.fixture
def notifications(make_db: Callable[[str], str]) -> Iterator[Notifications]:
    yield from local_notifications(make_db)


def ticket_ids(n: Notifications, user_id: int, kind: str | None = None) -> list[tuple[int | None, list[int]]]:
    items = n.as_(ADMIN if user_id == ADMIN.user_id else OTHER).list_feed({"limit": 100})["items"]
    return sorted((i["ticket_id"], i["ticket_ids"]) for i in items if kind in (None, i["type"]))


def merged(survivor: int, gone: int) -> dict[str, Any]:
    return event_base(actor_id=AGENT.user_id, ticket_id=survivor, merged_ticket_id=gone)


def purged(ids: list[int], absorbed: list[int]) -> dict[str, Any]:
    return event_base(actor_id=0, ticket_ids=ids, absorbed_ticket_ids=absorbed)


def test_feed_items_follow_the_survivor_and_go_with_a_purge(notifications: Notifications) -> None:
    n = notifications
    for ticket_id in (10, 11, 12):
        n.tickets.tickets[ticket_id] = FakeTicket(f"ticket {ticket_id}")
        n.handle("handle_ticket_created", ticket_created(ticket_id, AGENT.user_id))
    event = merged(10, 11)
    n.handle("handle_ticket_merged", event)
    n.handle("handle_ticket_merged", event)  # a redelivery changes nothing
    assert ticket_ids(n, ADMIN.user_id) == [(10, [10]), (10, [10]), (12, [12])]
    n.handle("handle_tickets_purged", purged([10], [11]))
    assert ticket_ids(n, ADMIN.user_id) == [(12, [12])]


def test_a_bulk_change_notification_follows_merges_and_keeps_what_a_purge_leaves(
    notifications: Notifications,
) -> None:
    n = notifications
    batch = uuid.uuid4().hex
    for ticket_id in (20, 21, 22):
        n.tickets.tickets[ticket_id] = FakeTicket(f"t{ticket_id}", owner_id=OTHER.user_id)
        changes = {"owner_id": [AGENT.user_id, OTHER.user_id]}
        n.handle("handle_ticket_updated", ticket_updated(ticket_id, ADMIN.user_id, changes, batch_id=batch))
    assert ticket_ids(n, OTHER.user_id) == [(20, [20, 21, 22])]
    n.handle("handle_ticket_merged", merged(20, 21))
    assert ticket_ids(n, OTHER.user_id, "assigned_to_you") == [(20, [20, 22])], "the survivor is named once"
    assert ticket_ids(n, OTHER.user_id, "record_updated") == [(20, [20])], "the owner hears of the merge"
    n.handle("handle_tickets_purged", purged([20], []))
    [item] = n.as_(OTHER).list_feed({"limit": 100})["items"]
    assert (item["ticket_id"], item["ticket_ids"], item["count"]) == (22, [22], 1)
    n.handle("handle_tickets_purged", purged([22], []))
    assert ticket_ids(n, OTHER.user_id) == []


def test_a_merge_tells_the_survivors_owner_and_followers_once_and_not_the_merger(
    notifications: Notifications,
) -> None:
    n = notifications
    n.tickets.tickets[30] = FakeTicket("survivor", owner_id=OTHER.user_id, followers={ADMIN.user_id})
    n.tickets.hidden_from[ADMIN.user_id] = set()
    event = merged(30, 31)
    n.handle("handle_ticket_merged", event)
    n.handle("handle_ticket_merged", event)  # a redelivery tells nobody again
    for person in (OTHER, ADMIN):
        items = n.as_(person).list_feed({"limit": 100})["items"]
        assert [(i["type"], i["ticket_id"]) for i in items] == [("record_updated", 30)], person.name
    assert n.as_(AGENT).list_feed({"limit": 100})["items"] == [], "the person who merged is not told"
    n.tickets.tickets[32] = FakeTicket("hidden", owner_id=OTHER.user_id)
    n.tickets.hidden_from[OTHER.user_id] = {32}
    n.handle("handle_ticket_merged", merged(32, 33))
    assert len(n.as_(OTHER).list_feed({"limit": 100})["items"]) == 1, "nobody who cannot see the survivor"


@pytest.mark.parametrize("order", ["in turn", "the later merge first"])
def test_a_notification_delivered_after_its_ticket_was_merged_away_names_the_survivor(
    notifications: Notifications, order: str
) -> None:
    """A ``ticket_created`` held up (by a crash or a retry) past the merge of its ticket must not
    bring the absorbed ticket back into anyone's feed; nor must a chain of merges, in either order."""
    n = notifications
    for ticket_id in (40, 41, 42):
        n.tickets.tickets[ticket_id] = FakeTicket(f"ticket {ticket_id}")
    merges = [merged(41, 40), merged(42, 41)]
    for event in merges if order == "in turn" else merges[::-1]:
        n.handle("handle_ticket_merged", event)
    n.handle("handle_ticket_created", ticket_created(40, AGENT.user_id))
    n.handle("handle_ticket_created", ticket_created(41, AGENT.user_id))
    assert ticket_ids(n, ADMIN.user_id, "ticket_created") == [(42, [42]), (42, [42])]
    n.handle("handle_tickets_purged", purged([42], [40, 41]))
    n.tickets.tickets[40] = FakeTicket("a ticket whose id was seen before")
    n.handle("handle_ticket_created", ticket_created(40, AGENT.user_id))
    assert ticket_ids(n, ADMIN.user_id, "ticket_created") == [(40, [40])], "a purge forgets the merges too"
