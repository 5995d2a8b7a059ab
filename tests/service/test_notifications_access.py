"""The feed as its reader may see it now (SPEC "Access": one access rule serves every path,
notifications included; a ticket that cannot be opened never appears and its existence is not
revealed), by ``services/notifications/visibility.py``.

Notifications are stored for the people who could see their ticket when it happened. Proved here,
through the service's entrypoints with the harness's fake tickets service answering
``visible_tickets`` as the reader: once the reader may no longer see a ticket (it was reassigned,
the reader demoted, the ticket is in the recycle bin, or a merge re-pointed the notification at a
survivor they cannot see), its notifications are not in the page, not in ``total``, ``unread`` or
the unread count, answer NotFound when marked read, and a bulk change's notification names only the
tickets still visible; they come back with access; pages still hold ``limit`` visible items and
walk the feed without skips or repeats; the tickets service is asked as the reader, in calls of at
most 100 ids (one for a page of 25), a bounded number for the unread count of thousands; and when it
cannot answer nothing unchecked is shown.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from services.chassis.errors import DeadlineExceeded, NotFound, ServiceUnavailable
from services.chassis.identity import Caller
from services.notifications import contract
from services.notifications.domain import Notice
from services.notifications.visibility import COUNTED, COUNTED_TICKETS
from tests.service.notifications_harness import (
    ADMIN,
    AGENT,
    OTHER,
    OWNED,
    FakeTicket,
    Notifications,
    event_base,
    local_notifications,
    ticket_created,
    ticket_updated,
)

pytestmark = pytest.mark.db

DEMOTED = dataclasses.replace(ADMIN, permissions=frozenset({"service_access"}), access_level="owned")
NO_TICKETS = Caller(8, "Nina No-tickets", frozenset({"account_access"}), "everything")


@pytest.fixture
def notifications(make_db: Callable[[str], str]) -> Iterator[Notifications]:
    yield from local_notifications(make_db)


def page(n: Notifications, who: Caller, **query: Any) -> dict[str, Any]:
    return dict(n.as_(who).list_feed({"limit": 100, **query}))


def shown(n: Notifications, who: Caller) -> list[tuple[str, int | None]]:
    return [(i["type"], i["ticket_id"]) for i in page(n, who)["items"]]


def assign(n: Notifications, ticket_id: int, owner: Caller, **extra: Any) -> None:
    """``ticket_id`` is assigned to ``owner`` by the admin (the owner is told)."""
    n.tickets.tickets.setdefault(ticket_id, FakeTicket(f"Secret {ticket_id}"))
    n.tickets.tickets[ticket_id].owner_id = owner.user_id
    changes = {"owner_id": [None, owner.user_id]}
    n.handle("handle_ticket_updated", ticket_updated(ticket_id, ADMIN.user_id, changes, **extra))


def deliver(n: Notifications, user_id: int, ticket_ids: range | list[int]) -> None:
    """One ``ticket_created`` notification per ticket for ``user_id``, stored as a delivery would."""
    for ticket_id in ticket_ids:
        n.tickets.tickets.setdefault(ticket_id, FakeTicket(f"ticket {ticket_id}"))
    events = [
        (str(uuid.uuid4()), [Notice(user_id, contract.TICKET_CREATED, t, f"ticket {t}", None, None)])
        for t in ticket_ids
    ]
    n.store.delivery.deliver_many(handler="test", events=events, people={})


def test_a_ticket_reassigned_away_leaves_no_trace_in_the_owned_only_agents_feed(
    notifications: Notifications,
) -> None:
    n = notifications
    assign(n, 23, OWNED)
    n.tickets.tickets[23].followers.add(OWNED.user_id)
    n.handle("handle_ticket_updated", ticket_updated(23, ADMIN.user_id, {"priority": ["low", "high"]}))
    assign(n, 24, OWNED)
    assert shown(n, OWNED) == [("assigned_to_you", 24), ("record_updated", 23), ("assigned_to_you", 23)]
    hidden = [i["id"] for i in page(n, OWNED)["items"] if i["ticket_id"] == 23]

    n.tickets.tickets[23].owner_id = OTHER.user_id  # the admin reassigns it: 404 for the agent now
    first = page(n, OWNED)
    assert [(i["type"], i["ticket_id"]) for i in first["items"]] == [("assigned_to_you", 24)]
    assert not any("Secret 23" in i["title"] or 23 in i["ticket_ids"] for i in first["items"])
    assert (first["total"], first["unread"], first["next_cursor"]) == (1, 1, None)
    assert page(n, OWNED, unread="true")["total"] == 1
    assert n.as_(OWNED).unread_count() == {"unread": 1, "marked": 0}
    for item_id in hidden:
        with pytest.raises(NotFound, match=f"notification {item_id} does not exist"):
            n.as_(OWNED).mark_read(item_id)
    assert page(n, OWNED, unread="true")["unread"] == 1, "marking a hidden one read changed nothing"
    assert {uid for uid, _ids in n.tickets.visibility_calls} == {OWNED.user_id}, "asked as the reader"

    n.tickets.tickets[23].owner_id = OWNED.user_id  # given back: the notifications are there again
    assert [t for _kind, t in shown(n, OWNED)] == [24, 23, 23]
    assert n.as_(OWNED).unread_count()["unread"] == 3


def test_marking_read_tells_live_clients_the_count_the_reader_may_see(notifications: Notifications) -> None:
    n = notifications
    for ticket_id in (23, 24, 25):
        assign(n, ticket_id, OWNED)
    n.tickets.tickets[23].owner_id = OTHER.user_id
    [newest, _older] = page(n, OWNED)["items"]
    read = n.as_(OWNED).mark_read(newest["id"])
    assert (read["id"], read["read"], read["ticket_id"]) == (newest["id"], True, 25)
    told = n.events(contract.NOTIFICATIONS_READ)[-1]
    assert (told["ids"], told["unread"]) == ([newest["id"]], 1), "24 is unread; 23 is not counted"
    assert n.as_(OWNED).mark_all_read() == {"unread": 0, "marked": 1}, "the hidden one is not counted"
    assert n.as_(OWNED).unread_count()["unread"] == 0


def test_a_super_admin_demoted_to_owned_only_keeps_only_the_new_ticket_items_they_may_see(
    notifications: Notifications,
) -> None:
    n = notifications
    n.tickets.tickets[31] = FakeTicket("ticket 31", owner_id=AGENT.user_id)
    n.tickets.tickets[32] = FakeTicket("ticket 32", owner_id=ADMIN.user_id)
    n.handle_batch("handle_ticket_created", [ticket_created(t, AGENT.user_id) for t in (31, 32)])
    assert shown(n, ADMIN) == [("ticket_created", 32), ("ticket_created", 31)]
    assert shown(n, DEMOTED) == [("ticket_created", 32)]
    assert n.as_(DEMOTED).unread_count()["unread"] == 1
    assert (page(n, DEMOTED)["total"], page(n, DEMOTED)["unread"]) == (1, 1)


def test_items_of_a_ticket_in_the_recycle_bin_are_hidden_until_it_is_restored(
    notifications: Notifications,
) -> None:
    n = notifications
    deliver(n, ADMIN.user_id, [51, 52])
    n.tickets.deleted.add(51)
    assert shown(n, ADMIN) == [("ticket_created", 52)]
    [item_51] = [i for i in n.store.feed.newest(user_id=ADMIN.user_id, limit=10) if i.ticket_id == 51]
    with pytest.raises(NotFound):
        n.as_(ADMIN).mark_read(item_51.id)
    assert n.as_(ADMIN).unread_count()["unread"] == 1
    n.tickets.deleted.discard(51)
    assert shown(n, ADMIN) == [("ticket_created", 52), ("ticket_created", 51)]


def test_an_item_re_pointed_by_a_merge_at_a_survivor_the_reader_cannot_see_is_hidden(
    notifications: Notifications,
) -> None:
    n = notifications
    assign(n, 40, OWNED)
    n.tickets.tickets[41] = FakeTicket("Other's survivor", owner_id=OTHER.user_id)
    merge = event_base(actor_id=ADMIN.user_id, ticket_id=41, merged_ticket_id=40)
    n.handle("handle_ticket_merged", merge)
    assert [i["ticket_id"] for i in n.as_(OTHER).list_feed({})["items"]] == [41], "the survivor's owner"
    stored = n.store.feed.newest(user_id=OWNED.user_id, limit=10)
    assert [row.ticket_id for row in stored] == [41], "the notification now names the survivor"
    assert shown(n, OWNED) == [] and n.as_(OWNED).unread_count()["unread"] == 0
    with pytest.raises(NotFound):
        n.as_(OWNED).mark_read(stored[0].id)


def test_a_bulk_change_item_names_only_the_tickets_the_reader_may_still_see(
    notifications: Notifications,
) -> None:
    n = notifications
    batch = uuid.uuid4().hex
    for ticket_id in range(100, 105):
        assign(n, ticket_id, OWNED, batch_id=batch)
    [item] = page(n, OWNED)["items"]
    assert (item["count"], item["title"]) == (5, "5 tickets were reassigned to you")
    for ticket_id in (100, 103):
        n.tickets.tickets[ticket_id].owner_id = OTHER.user_id
    [item] = page(n, OWNED)["items"]
    assert (item["ticket_id"], item["ticket_ids"], item["count"]) == (101, [101, 102, 104], 3)
    assert item["title"] == "3 tickets were reassigned to you"
    for ticket_id in (101, 104):
        n.tickets.tickets[ticket_id].owner_id = OTHER.user_id
    [item] = page(n, OWNED)["items"]
    assert (item["ticket_ids"], item["count"], item["title"]) == (
        [102],
        1,
        "Ticket #102 was assigned to you",
    )
    n.tickets.tickets[102].owner_id = OTHER.user_id
    assert page(n, OWNED) == {"items": [], "next_cursor": None, "total": 0, "unread": 0}
    with pytest.raises(NotFound):
        n.as_(OWNED).mark_read(item["id"])


@pytest.mark.parametrize("unread_only", [False, True])
@pytest.mark.parametrize("limit", [1, 2, 3, 25])
def test_pages_hold_limit_visible_items_and_walk_the_feed_without_skips_or_repeats(
    notifications: Notifications, limit: int, unread_only: bool
) -> None:
    """70 notifications: every third one hidden, and a run of 41 hidden ones; two read. Walking
    the pages gives every visible one once, newest first; each page but the last holds ``limit``
    of them, and only the last has no cursor."""
    n = notifications
    deliver(n, AGENT.user_id, range(1, 71))
    hidden = {t for t in range(1, 71) if t % 3 == 0} | set(range(20, 60))
    n.tickets.hidden_from[AGENT.user_id] = hidden
    read = [
        row.id for row in n.store.feed.newest(user_id=AGENT.user_id, limit=70) if row.ticket_id in (62, 5)
    ]
    for item_id in read:
        n.store.feed.mark_read(user_id=AGENT.user_id, item_id=item_id)
    wanted = [t for t in range(70, 0, -1) if t not in hidden and not (unread_only and t in (62, 5))]
    walked: list[int] = []
    cursor: str | None = None
    short_pages = 0
    for _ in range(80):
        query: dict[str, Any] = {"limit": limit, "unread": unread_only}
        if cursor:
            query["cursor"] = cursor
        answer = n.as_(AGENT).list_feed(query)
        assert len(answer["items"]) <= limit
        assert answer["total"] == len(wanted) and answer["unread"] == len(wanted) - (0 if unread_only else 2)
        walked += [i["ticket_id"] for i in answer["items"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
        short_pages += len(answer["items"]) < limit
    assert cursor is None and walked == wanted
    assert short_pages == 0


def test_a_page_that_meets_more_hidden_items_than_it_reads_ends_short_with_a_cursor(
    notifications: Notifications,
) -> None:
    """A demoted reader's newest 200 notifications are hidden: a page of 1 reads (1 + 1) * 31 of
    them at most, answers none and a cursor after the last it read, and the walk goes on to the
    visible ones without skipping any; the counts are right on every page."""
    n = notifications
    deliver(n, AGENT.user_id, range(1, 301))
    n.tickets.hidden_from[AGENT.user_id] = set(range(101, 301))
    first = n.as_(AGENT).list_feed({"limit": 1})
    assert first["items"] == [] and first["next_cursor"] is not None
    assert (first["total"], first["unread"]) == (100, 100)
    walked: list[int] = []
    pages = 1
    cursor = first["next_cursor"]
    while cursor is not None:
        answer = n.as_(AGENT).list_feed({"limit": 40, "cursor": cursor})
        walked += [i["ticket_id"] for i in answer["items"]]
        cursor = answer["next_cursor"]
        pages += 1
    assert walked == list(range(100, 0, -1)) and pages == 4


def test_a_page_is_one_call_and_the_unread_count_of_thousands_a_bounded_few(
    notifications: Notifications,
) -> None:
    n = notifications
    deliver(n, AGENT.user_id, range(1, 31))
    calls = n.tickets.visibility_calls
    first = n.as_(AGENT).list_feed({"limit": 25})
    assert len(first["items"]) == 25 and len(calls) == 1, "the page's tickets are among the counted ones"
    calls.clear()
    second = n.as_(AGENT).list_feed({"limit": 25, "cursor": first["next_cursor"]})
    assert len(second["items"]) == 5 and second["next_cursor"] is None and len(calls) == 1
    calls.clear()
    assert n.as_(OTHER).unread_count()["unread"] == 0 and calls == [], "nothing unread: no call"

    deliver(n, ADMIN.user_id, range(1000, 3500))  # a super admin told of 2,500 new tickets
    n.tickets.hidden_from[ADMIN.user_id] = {3499, 1000}  # the newest, and one past the newest 1,000
    assert n.as_(ADMIN).unread_count()["unread"] == COUNTED - 1, "counted up to the newest 1,000"
    assert len(calls) <= COUNTED_TICKETS // 100 and all(len(ids) <= 100 for _uid, ids in calls)
    calls.clear()
    top = n.as_(ADMIN).list_feed({"limit": 25})
    assert [i["ticket_id"] for i in top["items"]][:2] == [3498, 3497]
    assert (top["total"], top["unread"]) == (COUNTED - 1, COUNTED - 1)
    assert len(calls) <= COUNTED_TICKETS // 100


@pytest.mark.parametrize("failure", [ServiceUnavailable("tickets is down"), DeadlineExceeded("too slow")])
def test_when_tickets_cannot_answer_nothing_unchecked_is_shown(
    notifications: Notifications, failure: Exception
) -> None:
    n = notifications
    assign(n, 23, OWNED)
    [item] = page(n, OWNED)["items"]
    n.tickets.down = failure
    api = n.as_(OWNED)
    for call in (lambda: api.list_feed({}), api.unread_count, lambda: api.mark_read(item["id"])):
        with pytest.raises(ServiceUnavailable):
            call()
    n.tickets.down = None
    assert page(n, OWNED)["items"][0]["read"] is False, "the failed mark changed nothing"


def test_a_reader_without_ticket_access_sees_no_ticket_items(notifications: Notifications) -> None:
    n = notifications
    deliver(n, NO_TICKETS.user_id, [61, 62])
    assert page(n, NO_TICKETS) == {"items": [], "next_cursor": None, "total": 0, "unread": 0}
    assert n.as_(NO_TICKETS).unread_count()["unread"] == 0
