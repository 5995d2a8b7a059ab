"""Who is told what, in the app and by email: the notifications service's handlers in-process on a
real database, with fake tickets and permissions services.

The rules proved here (SPEC "Follow", "Notifications"): followers and owners as each type says;
never the person who made the change; never anyone who cannot see the ticket now; nothing for a
quiet integration or for automatic mail; preferences per type and channel; one notification for a
bulk change; each event once, however often it arrives; at most N emails per type, person and day.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from services.chassis.errors import Forbidden, ValidationFailed
from services.chassis.identity import Caller
from services.notifications import contract
from tests.service.notifications_harness import (
    ACCOUNT,
    ADMIN,
    AGENT,
    BASE_URL,
    FOLLOWER,
    OTHER,
    FakeTicket,
    Notifications,
    local_notifications,
    message_added,
    ticket_created,
    ticket_updated,
)

pytestmark = pytest.mark.db


@pytest.fixture
def notifications(make_db: Callable[[str], str]) -> Iterator[Notifications]:
    yield from local_notifications(make_db)


@pytest.fixture
def capped(make_db: Callable[[str], str]) -> Iterator[Notifications]:
    yield from local_notifications(make_db, daily_cap=3)


def feed(n: Notifications, who: Caller) -> list[dict[str, Any]]:
    return list(n.as_(who).list_feed({"limit": 100})["items"])


def kinds(n: Notifications, who: Caller) -> list[object]:
    return [item["type"] for item in feed(n, who)]


def test_a_customer_message_reaches_owner_and_followers_in_app_and_by_email(
    notifications: Notifications,
) -> None:
    n = notifications
    n.tickets.tickets[7] = FakeTicket("Printer on fire", owner_id=AGENT.user_id, followers={FOLLOWER.user_id})
    n.handle("handle_message_added", message_added(7, "customer", None))
    for person in (AGENT, FOLLOWER):
        [item] = feed(n, person)
        assert (item["type"], item["ticket_id"], item["read"]) == ("new_message", 7, False)
        assert item["title"] == "New customer message on ticket #7: Printer on fire"
    assert feed(n, OTHER) == []
    mails = n.send_mail()
    assert sorted(m["To"] for m in mails) == [
        "Agnes Agent <user2@example.com>",
        "Fiona Follower <user4@example.com>",
    ]
    mail = mails[0]
    assert (
        mail["Auto-Submitted"] == "auto-generated" and mail["From"] == "Help desk <support@desk.example.com>"
    )
    assert mail["Subject"] == "New customer message on ticket #7: Printer on fire"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"{BASE_URL}/split/7" in text and f'href="{BASE_URL}/split/7"' in html
    assert n.store.mail.states() == {"sent": 2}


def test_the_actor_is_never_told_and_nor_is_anyone_who_cannot_see_the_ticket(
    notifications: Notifications,
) -> None:
    n = notifications
    n.tickets.tickets[7] = FakeTicket(
        "Printer", owner_id=AGENT.user_id, followers={FOLLOWER.user_id, OTHER.user_id}
    )
    n.tickets.hidden_from[OTHER.user_id] = {7}  # lost access after following
    n.handle("handle_message_added", message_added(7, "reply", FOLLOWER.user_id))
    assert feed(n, FOLLOWER) == [], "the replier is not told of their own reply"
    assert feed(n, OTHER) == [], "a follower who lost access is not told"
    assert feed(n, AGENT) == [], "a reply is activity for followers; the owner is not one"
    n.tickets.tickets[7].followers.add(AGENT.user_id)
    n.handle("handle_message_added", message_added(7, "reply", FOLLOWER.user_id))
    assert kinds(n, AGENT) == ["record_updated"]
    assert n.send_mail() == [], "record updates are in-app only by default"


def test_a_note_tells_the_people_it_mentions_and_is_activity_for_followers(
    notifications: Notifications,
) -> None:
    n = notifications
    n.tickets.tickets[7] = FakeTicket("Printer", owner_id=None, followers={FOLLOWER.user_id, OTHER.user_id})
    n.tickets.hidden_from[ADMIN.user_id] = {7}  # mentioned but may not see it (a stand-in for any rule)
    note = message_added(7, "note", AGENT.user_id, mentions=[OTHER.user_id, ADMIN.user_id, AGENT.user_id])
    n.handle("handle_message_added", note)
    assert kinds(n, OTHER) == ["mentioned"], "one notification each: the most specific"
    assert kinds(n, FOLLOWER) == ["record_updated"]
    assert feed(n, ADMIN) == [] and feed(n, AGENT) == []
    [mail] = n.send_mail()
    assert mail["To"] == "Otto Other <user3@example.com>" and "mentioned" in mail["Subject"]


def test_automatic_mail_and_threads_without_a_ticket_tell_nobody(notifications: Notifications) -> None:
    n = notifications
    n.tickets.tickets[7] = FakeTicket("Printer", owner_id=AGENT.user_id, followers={FOLLOWER.user_id})
    n.handle("handle_message_added", message_added(7, "customer", None, auto="auto-reply"))
    n.handle("handle_message_added", message_added(None, "customer", None))
    assert feed(n, AGENT) == [] and n.tickets.calls == []


def test_assignment_status_and_other_changes_are_one_notification_each_by_their_type(
    notifications: Notifications,
) -> None:
    n = notifications
    n.tickets.tickets[7] = FakeTicket(
        "Printer", owner_id=OTHER.user_id, followers={FOLLOWER.user_id, OTHER.user_id}
    )
    n.handle("handle_ticket_updated", ticket_updated(7, AGENT.user_id, {"owner_id": [None, OTHER.user_id]}))
    assert kinds(n, OTHER) == ["assigned_to_you"] and kinds(n, FOLLOWER) == ["record_updated"]
    n.handle(
        "handle_ticket_updated",
        ticket_updated(7, AGENT.user_id, {"status": [1, 2], "priority": ["low", "high"]}),
    )
    assert kinds(n, OTHER) == ["status_changed", "assigned_to_you"]
    assert kinds(n, FOLLOWER) == ["status_changed", "record_updated"]
    n.handle("handle_ticket_updated", ticket_updated(7, OTHER.user_id, {"priority": ["high", "low"]}))
    assert kinds(n, OTHER)[0] == "status_changed", "the owner made this change"
    assert kinds(n, FOLLOWER)[0] == "record_updated"
    assert feed(n, AGENT) == []
    [assigned] = n.send_mail()  # assignments are emailed by default, status and record changes are not
    assert assigned["To"].addresses[0].username == "user3"


def test_a_change_made_with_a_quiet_integration_token_tells_nobody(notifications: Notifications) -> None:
    n = notifications
    n.tickets.tickets[7] = FakeTicket("Printer", owner_id=OTHER.user_id, followers={FOLLOWER.user_id})
    quiet = ticket_updated(
        7, AGENT.user_id, {"owner_id": [None, OTHER.user_id]}, actor_kind="integration", quiet=True
    )
    n.handle("handle_ticket_updated", quiet)
    loud = ticket_updated(
        7, AGENT.user_id, {"priority": ["low", "high"]}, actor_kind="integration", quiet=False
    )
    n.handle("handle_ticket_updated", loud)
    assert feed(n, OTHER) == [] and kinds(n, FOLLOWER) == ["record_updated"]


def test_an_event_delivered_twice_is_one_notification(notifications: Notifications) -> None:
    n = notifications
    n.tickets.tickets[7] = FakeTicket("Printer", owner_id=AGENT.user_id, followers={FOLLOWER.user_id})
    event = message_added(7, "customer", None)
    n.handle("handle_message_added", event)
    n.handle("handle_message_added", event)
    # the redelivery is recognised by the delivery's transaction (its lookups are repeated: a
    # read before them would cost every event to spare the rare redelivery)
    assert len(feed(n, FOLLOWER)) == 1 and len(n.send_mail()) == 2
    [added] = n.events(contract.NOTIFICATIONS_ADDED)  # one event for everyone the message told
    told = added["notifications"]
    assert sorted(e["user_id"] for e in told) == [AGENT.user_id, FOLLOWER.user_id]
    assert all(e["unread"] == 1 and e["notification"]["ticket_id"] == 7 and not e["grown"] for e in told)


@pytest.mark.parametrize("batch_size", [1, 20])
def test_a_bulk_reassignment_of_fifty_tickets_is_one_notification_and_one_mail(
    notifications: Notifications, batch_size: int
) -> None:
    n = notifications
    batch = uuid.uuid4().hex
    for ticket_id in range(100, 150):
        n.tickets.tickets[ticket_id] = FakeTicket(
            f"t{ticket_id}", owner_id=OTHER.user_id, followers={FOLLOWER.user_id}
        )
    changes = {"owner_id": [AGENT.user_id, OTHER.user_id]}
    events = [ticket_updated(t, ADMIN.user_id, changes, batch_id=batch) for t in range(100, 150)]
    for start in range(0, 50, batch_size):  # as the chassis hands them over: one by one or in batches
        n.handle_batch("handle_ticket_updated", events[start : start + batch_size])
    [item] = feed(n, OTHER)
    assert item["type"] == "assigned_to_you" and item["count"] == 50
    assert item["title"] == "50 tickets were reassigned to you" and item["ticket_ids"] == list(
        range(100, 150)
    )
    [followed] = feed(n, FOLLOWER)
    assert followed["count"] == 50 and followed["title"] == "50 tickets were updated"
    assert n.send_mail() == [], "the bulk change's mail waits for the rest of it"
    n.clock.advance(seconds=6)
    [mail] = n.send_mail()
    assert mail["Subject"] == "50 tickets were reassigned to you"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"{BASE_URL}/split/100" in text and f"{BASE_URL}/split/149" in text
    last = n.events(contract.NOTIFICATIONS_ADDED)[-1]["notifications"]
    assert sorted((e["user_id"], e["notification"]["count"], e["grown"]) for e in last) == sorted(
        [(OTHER.user_id, 50, True), (FOLLOWER.user_id, 50, True)]
    ), "each notification announced once per batch, as it ends up"
    first = n.events(contract.NOTIFICATIONS_ADDED)[0]["notifications"]
    assert sorted((e["user_id"], e["notification"]["count"], e["grown"]) for e in first) == sorted(
        [(OTHER.user_id, batch_size, False), (FOLLOWER.user_id, batch_size, False)]
    ), "a notification made in a batch is new to the clients, however much it grew in it"


def test_turning_a_type_off_stops_it_per_channel(notifications: Notifications) -> None:
    n = notifications
    n.tickets.tickets[7] = FakeTicket("Printer", owner_id=AGENT.user_id, followers={FOLLOWER.user_id})
    api = n.as_(FOLLOWER)
    api.set_preferences({"types": {"new_message": {"email": False}}})
    n.handle("handle_message_added", message_added(7, "customer", None))
    assert kinds(n, FOLLOWER) == ["new_message"]
    assert [m["To"].addresses[0].username for m in n.send_mail()] == ["user2"]
    api.set_preferences({"types": {"new_message": {"in_app": False}}})
    n.handle("handle_message_added", message_added(7, "customer", None))
    assert kinds(n, FOLLOWER) == ["new_message"], "in-app off: nothing new in the feed"
    assert n.as_(FOLLOWER).list_feed({})["unread"] == 1
    assert [m["To"].addresses[0].username for m in n.send_mail()] == ["user2"]
    api.set_preferences({"types": {"new_message": {"email": True}}})
    n.handle("handle_message_added", message_added(7, "customer", None))
    assert kinds(n, FOLLOWER) == ["new_message"]
    assert sorted(m["To"].addresses[0].username for m in n.send_mail()) == ["user2", "user4"]


def test_preferences_answer_every_type_and_refuse_what_is_not_one(notifications: Notifications) -> None:
    api = notifications.as_(AGENT)
    prefs = api.get_preferences()
    assert set(prefs["types"]) == set(contract.NOTIFICATION_TYPES) and prefs["email_digest"] == "off"
    assert prefs["types"]["record_updated"] == {"in_app": True, "email": False}
    assert prefs["types"]["assigned_to_you"] == {"in_app": True, "email": True}
    changed = api.set_preferences({"types": {"record_updated": {"email": True}}, "email_digest": "hourly"})
    assert changed["types"]["record_updated"] == {"in_app": True, "email": True}
    assert changed["email_digest"] == "hourly" and api.get_preferences() == changed
    assert notifications.as_(OTHER).get_preferences()["email_digest"] == "off", "preferences are per person"
    for body, field in (
        ({"types": {"nope": {"email": True}}}, "types"),
        ({"types": {"mentioned": {"email": "yes"}}}, "types.mentioned.value.email"),
        ({"types": {"mentioned": {"sms": True}}}, "types.mentioned.value.sms"),
        ({"email_digest": "weekly"}, "email_digest"),
        ({}, "_schema"),
        ({"colour": "red"}, "colour"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            api.set_preferences(body)
        assert field in exc.value.errors, (body, exc.value.errors)


def test_at_most_the_cap_of_emails_per_type_person_and_day_the_rest_counted(capped: Notifications) -> None:
    n = capped
    n.tickets.tickets[7] = FakeTicket("Printer", owner_id=AGENT.user_id)
    for _ in range(5):
        n.handle("handle_message_added", message_added(7, "customer", None))
    n.handle("handle_ticket_updated", ticket_updated(7, OTHER.user_id, {"owner_id": [None, AGENT.user_id]}))
    assert len(feed(n, AGENT)) == 6, "the cap is on email; the feed has everything"
    assert len(n.send_mail()) == 4, "three customer messages and the assignment (another type)"
    drops = n.as_(ACCOUNT).mail_drops({})
    assert drops["items"] == [
        {"user_id": AGENT.user_id, "type": "new_message", "day": "2026-05-04", "emails": 3, "dropped": 2}
    ]
    with pytest.raises(Forbidden):
        n.as_(AGENT).mail_drops({})
    n.clock.advance(days=1)
    n.handle("handle_message_added", message_added(7, "customer", None))
    assert len(n.send_mail()) == 1, "a new day, a new count"
    assert n.as_(ADMIN).mail_drops({"day": "2026-05-05"})["items"] == []


def test_an_hourly_digest_batches_email_and_leaves_out_tickets_no_longer_visible(
    notifications: Notifications,
) -> None:
    n = notifications
    for ticket_id in (7, 8, 9):
        n.tickets.tickets[ticket_id] = FakeTicket(f"Ticket {ticket_id}", owner_id=AGENT.user_id)
    n.as_(AGENT).set_preferences({"email_digest": "hourly"})
    for ticket_id in (7, 8, 9):
        n.handle("handle_message_added", message_added(ticket_id, "customer", None))
    assert len(feed(n, AGENT)) == 3 and n.send_mail() == []
    n.clock.advance(minutes=30)
    n.send_digests()
    assert n.send_mail() == [], "not an hour yet"
    n.tickets.hidden_from[AGENT.user_id] = {8}
    n.clock.advance(minutes=31)
    n.send_digests()
    [digest] = n.send_mail()
    assert digest["Subject"] == "2 new notifications in the help desk"
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "/split/7" in text and "/split/9" in text and "/split/8" not in text
    n.send_digests()
    assert n.send_mail() == [], "each notification is in one digest"


def test_the_feed_pages_newest_first_counts_unread_and_marks_read(notifications: Notifications) -> None:
    n = notifications
    for ticket_id in range(1, 6):
        n.tickets.tickets[ticket_id] = FakeTicket(f"t{ticket_id}", owner_id=AGENT.user_id)
        n.handle("handle_message_added", message_added(ticket_id, "customer", None))
    api = n.as_(AGENT)
    first = api.list_feed({"limit": 2})
    assert [i["ticket_id"] for i in first["items"]] == [5, 4] and first["unread"] == 5 and first["total"] == 5
    second = api.list_feed({"limit": 2, "cursor": first["next_cursor"]})
    assert [i["ticket_id"] for i in second["items"]] == [3, 2]
    read = api.mark_read(second["items"][0]["id"])
    assert read["read"] is True and api.unread_count()["unread"] == 4
    assert [i["ticket_id"] for i in api.list_feed({"unread": "true"})["items"]] == [5, 4, 2, 1]
    assert n.events(contract.NOTIFICATIONS_READ)[-1] == {
        **n.events(contract.NOTIFICATIONS_READ)[-1],
        "user_id": AGENT.user_id,
        "ids": [read["id"]],
        "unread": 4,
    }
    assert api.mark_all_read() == {"unread": 0, "marked": 4}
    assert api.mark_all_read() == {"unread": 0, "marked": 0}
    with pytest.raises(Exception, match="does not exist"):
        n.as_(OTHER).mark_read(read["id"])


def test_a_new_ticket_tells_super_admins_and_its_owner(notifications: Notifications) -> None:
    n = notifications
    n.tickets.tickets[7] = FakeTicket("ticket 7", owner_id=OTHER.user_id)
    n.handle("handle_ticket_created", ticket_created(7, AGENT.user_id, owner_id=OTHER.user_id))
    assert kinds(n, ADMIN) == ["ticket_created"] and kinds(n, OTHER) == ["assigned_to_you"]
    assert feed(n, AGENT) == []
    n.tickets.tickets[8] = FakeTicket("ticket 8", owner_id=AGENT.user_id)
    n.handle("handle_ticket_created", ticket_created(8, AGENT.user_id, owner_id=AGENT.user_id))
    assert feed(n, AGENT) == [], "nobody hears of assigning a ticket to themself"


def test_a_flood_of_new_tickets_is_delivered_as_a_batch_once(notifications: Notifications) -> None:
    n = notifications
    for ticket_id in (21, 22, 24):
        n.tickets.tickets[ticket_id] = FakeTicket(f"ticket {ticket_id}", owner_id=OTHER.user_id)
    flood = [ticket_created(t, AGENT.user_id, owner_id=OTHER.user_id) for t in (21, 22, 23, 24)]
    n.handle_batch("handle_ticket_created", [*flood, flood[0]])  # 23 is gone; 21 comes twice
    assert n.tickets.batches == [4], "one question about the audiences of the whole batch"
    assert sorted(i["ticket_id"] for i in feed(n, ADMIN)) == [21, 22, 24]
    assert sorted(i["ticket_id"] for i in feed(n, OTHER)) == [21, 22, 24]
    assert n.as_(ADMIN).unread_count()["unread"] == 3 and n.as_(OTHER).unread_count()["unread"] == 3
    [added] = n.events(contract.NOTIFICATIONS_ADDED)  # one announcement for the batch
    assert sorted((x["user_id"], x["notification"]["ticket_id"]) for x in added["notifications"]) == sorted(
        (who.user_id, t) for who in (ADMIN, OTHER) for t in (21, 22, 24)
    )
    assert {x["unread"] for x in added["notifications"]} == {3}, "each with the count after the batch"
    assigned = len(n.send_mail())

    n.handle_batch("handle_ticket_created", flood[:2])  # redelivered: nothing changes
    assert len(feed(n, ADMIN)) == 3 and n.as_(OTHER).unread_count()["unread"] == 3
    assert len(n.events(contract.NOTIFICATIONS_ADDED)) == 1 and n.send_mail() == []
    assert assigned == 3, "the new owner's assignments are emailed once each"


def statements_of(n: Notifications, handler: str, payloads: list[dict[str, Any]]) -> int:
    """How many SQL statements handling ``payloads`` as one batch ran."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(n.engine, "before_cursor_execute", note)
    try:
        n.handle_batch(handler, payloads)
    finally:
        sa.event.remove(n.engine, "before_cursor_execute", note)
    return len(seen)


def test_a_batch_of_new_tickets_is_stored_in_as_many_statements_for_twelve_as_for_three(
    notifications: Notifications,
) -> None:
    n = notifications
    for ticket_id in range(1, 20):
        n.tickets.tickets[ticket_id] = FakeTicket(f"ticket {ticket_id}", owner_id=OTHER.user_id)
    created = [ticket_created(t, AGENT.user_id, owner_id=OTHER.user_id) for t in range(1, 20)]
    n.handle_batch("handle_ticket_created", created[:4])  # the people's counter and mail rows exist now
    three = statements_of(n, "handle_ticket_created", created[4:7])
    twelve = statements_of(n, "handle_ticket_created", created[7:19])
    assert three == twelve, f"{three} statements for 3 new tickets, {twelve} for 12"
    assert sorted(i["ticket_id"] for i in feed(n, OTHER)) == list(range(1, 20))
    assert n.as_(OTHER).unread_count()["unread"] == 19 and n.as_(ADMIN).unread_count()["unread"] == 19


def test_a_batch_mixing_a_bulk_change_with_single_changes_keeps_their_order(
    notifications: Notifications,
) -> None:
    """Single changes around a bulk change's events, in one batch: each single change is its own
    notification, the bulk change's two events one that grew, and the feed keeps their order."""
    n = notifications
    for ticket_id in (1, 2, 3, 100, 101):
        n.tickets.tickets[ticket_id] = FakeTicket(f"t{ticket_id}", owner_id=OTHER.user_id)
    changes = {"owner_id": [AGENT.user_id, OTHER.user_id]}
    bulk = uuid.uuid4().hex
    batch = [
        ticket_updated(1, ADMIN.user_id, changes),
        ticket_updated(100, ADMIN.user_id, changes, batch_id=bulk),
        ticket_updated(2, ADMIN.user_id, changes),
        ticket_updated(101, ADMIN.user_id, changes, batch_id=bulk),
        ticket_updated(3, ADMIN.user_id, changes),
    ]
    n.handle_batch("handle_ticket_updated", batch)
    newest_first = [(item["ticket_ids"] or [item["ticket_id"]], item["count"]) for item in feed(n, OTHER)]
    assert newest_first == [([3], 1), ([2], 1), ([100, 101], 2), ([1], 1)]
    assert n.as_(OTHER).unread_count()["unread"] == 4


def test_a_batch_naming_more_people_than_one_lookup_takes_asks_in_several(
    notifications: Notifications,
) -> None:
    """Three messages to tickets with 600 followers each: 1,800 people, more than the permissions
    service answers per call (1,000): the batch asks twice instead of failing."""
    n = notifications
    crowd = {uid: dataclasses.replace(FOLLOWER, user_id=uid, name=f"Crowd {uid}") for uid in range(100, 1900)}
    n.permissions.people.update(crowd)
    for i, ticket_id in enumerate((61, 62, 63)):
        n.tickets.tickets[ticket_id] = FakeTicket(
            f"t{ticket_id}", followers=set(range(100 + 600 * i, 700 + 600 * i))
        )
    n.handle_batch("handle_message_added", [message_added(t, "customer", None) for t in (61, 62, 63)])
    assert n.permissions.asked == [1000, 800]
    assert len(n.rows("SELECT id FROM feed_items")) == 1800
