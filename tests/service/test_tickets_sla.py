"""SLAs through the tickets service, on a manual clock: policies (seat to see, account access to
change), each ticket's clocks in get, list and board, sorting and filtering by them, pauses,
replies, the breach timer announcing each breach once, recomputation when a policy changes,
and merges keeping the earliest breach."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from services.chassis.clock import ManualClock
from services.chassis.errors import Forbidden, NotFound, SeatRequired, ValidationFailed
from services.chassis.identity import Caller
from services.tickets import contract
from tests.service.tickets_harness import ACCOUNT, ADMIN, AGENT, OWNED, USERS, Tickets, local_tickets

pytestmark = pytest.mark.db

NEW, WAITING_CONTACT, WAITING_US, CLOSED = 1, 2, 3, 4
START = dt.datetime(2026, 5, 4, 8, 0, tzinfo=dt.UTC)  # a Monday
SEATED = Caller(7, "seated agent", frozenset({"service_access"}), "everything", seat=True)
SEAT_ADMIN = Caller(8, "seat admin", frozenset({"account_access", "service_access"}), "everything", seat=True)
USERS.update(
    {c.user_id: {"id": c.user_id, "permissions": sorted(c.permissions)} for c in (SEATED, SEAT_ADMIN)}
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def tickets(make_db: Callable[[str], str], clock: ManualClock) -> Iterator[Tickets]:
    yield from local_tickets(make_db, clock)


def policy(api: Any, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "Standard",
        "first_reply_minutes": 60,
        "close_minutes": 8 * 60,
        "due_soon_minutes": 10,
        **fields,
    }
    return dict(api.create_sla_policy(body))


def message(api: Any, ticket_id: int, kind: str, at: dt.datetime, author_id: int | None = None) -> None:
    api.handle_message_added(
        {
            "event_id": str(uuid.uuid4()),
            "occurred_at": at.isoformat(),
            "thread_id": 1,
            "ticket_id": ticket_id,
            "message_id": 1,
            "kind": kind,
            "channel": "email",
            "author_id": author_id,
            "auto": None,
            "mentions": [],
            "at": at.isoformat(),
        }
    )


def minutes(n: int) -> dt.datetime:
    return START + dt.timedelta(minutes=n)


def iso(n: int) -> str:
    return minutes(n).isoformat()


def goals(ticket: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["goal"]: g for g in ticket["sla"]["goals"]}


# -- seats and policies ----------------------------------------------------------------------------


def test_policies_need_a_seat_to_see_and_account_access_to_change(tickets: Tickets) -> None:
    made = policy(tickets.as_(SEAT_ADMIN))
    for caller in (AGENT, ACCOUNT):  # no seat, with or without account access
        with pytest.raises(SeatRequired):
            tickets.as_(caller).list_sla_policies({})
        with pytest.raises(SeatRequired):
            tickets.as_(caller).create_sla_policy({"name": "x", "close_minutes": 5})
    seated = tickets.as_(SEATED)
    assert [p["id"] for p in seated.list_sla_policies({})["items"]] == [made["id"]]
    assert seated.get_sla_policy(made["id"])["close_minutes"] == 8 * 60
    with pytest.raises(Forbidden) as refused:
        seated.update_sla_policy(made["id"], {"close_minutes": 5})
    assert not isinstance(refused.value, SeatRequired)
    with pytest.raises(Forbidden):
        seated.delete_sla_policy(made["id"])
    changed = tickets.as_(ADMIN).update_sla_policy(made["id"], {"close_minutes": 5})
    assert (changed["close_minutes"], changed["version"]) == (5, 2)
    assert tickets.as_(ADMIN).delete_sla_policy(made["id"]) == {"id": made["id"], "deleted": True}
    with pytest.raises(NotFound):
        seated.get_sla_policy(made["id"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "no goal"}, "_schema"),
        ({"name": "x", "close_minutes": 0}, "close_minutes"),
        ({"name": "x", "close_minutes": "5"}, "close_minutes"),
        ({"name": "x", "close_minutes": 5, "pipeline_id": 99}, "pipeline_id"),
        ({"name": "x", "close_minutes": 5, "pause_stage_ids": [2, 99]}, "pause_stage_ids"),
        ({"name": "x", "close_minutes": 5, "priority": "whenever"}, "priority"),
        (
            {"name": "x", "close_minutes": 5, "business_hours": {"timezone": "Mars/Olympus", "weekly": []}},
            "business_hours",
        ),
        (
            {
                "name": "x",
                "close_minutes": 5,
                "business_hours": {
                    "timezone": "UTC",
                    "weekly": [{"day": "mon", "start": "17:00", "end": "09:00"}],
                },
            },
            "business_hours",
        ),
        (
            {
                "name": "x",
                "close_minutes": 5,
                "business_hours": {
                    "timezone": "UTC",
                    "weekly": [
                        {"day": "mon", "start": "09:00", "end": "13:00"},
                        {"day": "mon", "start": "12:00", "end": "17:00"},
                    ],
                },
            },
            "business_hours",
        ),
        ({"name": "x", "close_minutes": 5, "color": "red"}, "color"),
    ],
)
def test_policy_refusals(tickets: Tickets, body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        tickets.as_(ADMIN).create_sla_policy(body)
    # errors name the field's path (``business_hours.weekly.0.end``): the field or a part of it
    assert any(key == field or key.startswith(f"{field}.") for key in exc.value.errors), exc.value.errors


def test_one_policy_per_priority_and_pipeline(tickets: Tickets) -> None:
    admin = tickets.as_(ADMIN)
    policy(admin)
    urgent = policy(admin, name="Urgent", priority="urgent")
    with pytest.raises(ValidationFailed):
        policy(admin, name="Another default")
    with pytest.raises(ValidationFailed):
        admin.update_sla_policy(urgent["id"], {"priority": None})
    assert policy(admin, name="Pipeline 1", pipeline_id=1)["pipeline_id"] == 1


# -- clocks on tickets -----------------------------------------------------------------------------


def test_a_new_ticket_shows_its_clocks_to_seated_callers_only(tickets: Tickets, clock: ManualClock) -> None:
    policy(tickets.as_(ADMIN), due_soon_minutes=15)
    made = tickets.as_(SEATED).create_ticket({"name": "Printer on fire"})
    sla = made["sla"]
    assert sla["state"] == "on_track" and sla["next_due_at"] == iso(60) and sla["breached_at"] is None
    assert goals(made)["first_reply"] == {
        "goal": "first_reply",
        "state": "on_track",
        "started_at": iso(0),
        "due_at": iso(60),
        "met_at": None,
        "breached_at": None,
        "remaining_seconds": None,
    }
    assert goals(made)["close"]["due_at"] == iso(480)
    assert tickets.as_(AGENT).get_ticket(made["id"])["sla"] is None
    assert all(t["sla"] is None for t in tickets.as_(AGENT).list_tickets({})["items"])
    clock.advance(minutes=50)
    assert tickets.as_(SEATED).get_ticket(made["id"])["sla"]["state"] == "due_soon"
    clock.advance(minutes=11)  # due, and the timer has not run yet: already shown as breached
    assert tickets.as_(SEATED).get_ticket(made["id"])["sla"]["state"] == "breached"


def test_the_breach_timer_announces_each_breach_once_to_owner_and_followers(
    tickets: Tickets, clock: ManualClock
) -> None:
    policy(tickets.as_(ADMIN))
    made = tickets.as_(ADMIN).create_ticket({"name": "Slow", "owner_id": AGENT.user_id})
    tickets.as_(OWNED).create_ticket({"name": "owned elsewhere", "owner_id": OWNED.user_id})
    tickets.as_(SEATED).follow(made["id"])
    api = tickets.as_(SEATED)
    clock.advance(minutes=59)
    api.sla_tick()
    assert tickets.events(contract.SLA_BREACHED) == []
    clock.advance(minutes=1, seconds=1)
    api.sla_tick()
    api.sla_tick()
    breaches = [payload for _type, payload in tickets.events(contract.SLA_BREACHED)]
    assert len(breaches) == 2  # first reply of both tickets, each once
    mine = next(b for b in breaches if b["ticket_id"] == made["id"])
    assert mine["goal"] == "first_reply" and mine["due_at"] == iso(60) and mine["actor_id"] == 0
    assert mine["owner_id"] == AGENT.user_id and mine["follower_ids"] == [SEATED.user_id]
    ticket = api.get_ticket(made["id"])
    assert ticket["sla"]["state"] == "breached" and ticket["sla"]["breached_at"] == iso(60)
    message(api, made["id"], "reply", minutes(70), author_id=AGENT.user_id)  # late: no second event
    assert len(tickets.events(contract.SLA_BREACHED)) == 2
    assert goals(api.get_ticket(made["id"]))["first_reply"]["met_at"] == iso(70)
    clock.advance(minutes=8 * 60)
    api.sla_tick()
    assert [b["goal"] for _t, b in tickets.events(contract.SLA_BREACHED)][2:] == ["close", "close"]


def test_a_reply_in_time_meets_the_goal_and_next_replies_are_measured(
    tickets: Tickets, clock: ManualClock
) -> None:
    policy(tickets.as_(ADMIN), next_reply_minutes=30, close_minutes=None, due_soon_minutes=10)
    api = tickets.as_(SEATED)
    made = api.create_ticket({"name": "Question"})
    message(api, made["id"], "customer", minutes(0))
    clock.advance(minutes=20)
    message(api, made["id"], "reply", minutes(20), author_id=SEATED.user_id)
    after = api.get_ticket(made["id"])
    assert goals(after)["first_reply"]["state"] == "met" and after["sla"]["state"] == "met"
    clock.advance(minutes=20)
    message(api, made["id"], "customer", minutes(40))
    waiting = goals(api.get_ticket(made["id"]))["next_reply"]
    assert (waiting["started_at"], waiting["due_at"], waiting["state"]) == (iso(40), iso(70), "on_track")
    clock.advance(minutes=31)
    api.sla_tick()
    assert [b["goal"] for _t, b in tickets.events(contract.SLA_BREACHED)] == ["next_reply"]


def test_a_pause_stage_stops_the_clocks(tickets: Tickets, clock: ManualClock) -> None:
    policy(tickets.as_(ADMIN), pause_stage_ids=[WAITING_CONTACT], due_soon_minutes=10)
    api = tickets.as_(SEATED)
    made = api.create_ticket({"name": "Need info"})
    clock.advance(minutes=20)
    paused = api.update_ticket(made["id"], {"status": WAITING_CONTACT})
    assert paused["sla"]["state"] == "paused" and paused["sla"]["next_due_at"] is None
    assert goals(paused)["first_reply"]["remaining_seconds"] == 40 * 60
    clock.advance(hours=5)
    api.sla_tick()
    assert tickets.events(contract.SLA_BREACHED) == []
    resumed = api.update_ticket(made["id"], {"status": NEW})
    assert resumed["sla"]["state"] == "on_track"
    assert goals(resumed)["first_reply"]["due_at"] == iso(20 + 300 + 40)


def test_closing_fulfils_the_goals(tickets: Tickets, clock: ManualClock) -> None:
    policy(tickets.as_(ADMIN))
    api = tickets.as_(SEATED)
    made = api.create_ticket({"name": "Dup"})
    clock.advance(minutes=10)
    closed = api.update_ticket(made["id"], {"status": CLOSED})
    assert closed["sla"]["state"] == "met" and {g["state"] for g in closed["sla"]["goals"]} == {"met"}
    clock.advance(days=3)
    api.sla_tick()
    assert tickets.events(contract.SLA_BREACHED) == []


def test_priority_picks_the_policy(tickets: Tickets) -> None:
    admin = tickets.as_(ADMIN)
    default = policy(admin)
    urgent = policy(admin, name="Urgent", priority="urgent", first_reply_minutes=15)
    api = tickets.as_(SEATED)
    made = api.create_ticket({"name": "x"})
    assert made["sla"]["policy_id"] == default["id"]
    raised = api.update_ticket(made["id"], {"priority": "urgent"})
    assert raised["sla"]["policy_id"] == urgent["id"] and raised["sla"]["next_due_at"] == iso(15)


def test_changing_a_policy_recomputes_open_tickets(tickets: Tickets, clock: ManualClock) -> None:
    api = tickets.as_(SEATED)
    open_one = api.create_ticket({"name": "open"})
    closed_one = api.create_ticket({"name": "closed", "status": CLOSED})
    assert open_one["sla"] is None
    made = policy(tickets.as_(ADMIN))
    assert api.get_ticket(open_one["id"])["sla"]["next_due_at"] == iso(60)
    assert api.get_ticket(closed_one["id"])["sla"] is None  # closed tickets keep what they had
    clock.advance(minutes=61)
    api.sla_tick()
    assert api.get_ticket(open_one["id"])["sla"]["state"] == "breached"
    tickets.as_(ADMIN).update_sla_policy(made["id"], {"first_reply_minutes": 120})
    relaxed = api.get_ticket(open_one["id"])["sla"]
    assert relaxed["state"] == "on_track" and relaxed["next_due_at"] == iso(120)
    tickets.as_(ADMIN).delete_sla_policy(made["id"])
    assert api.get_ticket(open_one["id"])["sla"] is None


def test_recomputation_continues_on_the_timer(tickets: Tickets) -> None:
    api = tickets.as_(SEATED)
    made = [api.create_ticket({"name": f"t{i}"})["id"] for i in range(5)]
    store = tickets.store.slas
    with tickets.store.db.transaction() as s:
        store._policies_change(s)
        s.execute(contract_insert_policy())
    assert store.recompute_step(limit=2) == 2
    assert api.get_ticket(made[0])["sla"] is not None and api.get_ticket(made[4])["sla"] is None
    api.sla_tick()
    api.sla_tick()
    assert api.get_ticket(made[4])["sla"] is not None and not store.pending_recompute()


def contract_insert_policy() -> Any:
    from services.tickets.models import sla_policies

    return sla_policies.insert().values(
        name="raw",
        close_minutes=60,
        pause_stage_ids="[]",
        due_soon_minutes=60,
        version=1,
        created_by=1,
        created_at=START,
        updated_at=START,
    )


# -- lists -----------------------------------------------------------------------------------------


def test_lists_sort_and_filter_by_the_clocks(tickets: Tickets, clock: ManualClock) -> None:
    admin = tickets.as_(ADMIN)
    api = tickets.as_(SEATED)
    no_policy = api.create_ticket({"name": "before any policy", "status": CLOSED})
    policy(admin, due_soon_minutes=10)
    policy(admin, name="Urgent", priority="urgent", first_reply_minutes=5)
    policy(admin, name="Low", priority="low", first_reply_minutes=24 * 60, pause_stage_ids=[WAITING_CONTACT])
    low = api.create_ticket({"name": "low", "priority": "low"})
    normal = api.create_ticket({"name": "normal"})
    clock.advance(minutes=1)
    urgent = api.create_ticket({"name": "urgent", "priority": "urgent"})
    paused = api.create_ticket({"name": "paused", "priority": "low", "status": WAITING_CONTACT})
    clock.advance(minutes=10)
    api.sla_tick()  # urgent breached at minute 6
    order = ["urgent", "normal", "low", "before any policy", "paused"]  # no running clock: last, by id

    def names(query: dict[str, str]) -> list[str]:
        found, page = [], api.list_tickets({**query, "limit": "2"})
        while True:
            found += [t["name"] for t in page["items"]]
            if page["next_cursor"] is None:
                return found
            page = api.list_tickets({**query, "limit": "2", "cursor": page["next_cursor"]})

    assert names({"sort": "sla_due_at"}) == order
    assert names({"sort": "-sla_due_at"}) == list(reversed(order))
    assert names({"sla_state": "breached"}) == ["urgent"]
    assert names({"sla_state": "on_track"}) == ["normal", "low"]
    assert names({"sla_state": "paused"}) == ["paused"]
    clock.advance(minutes=40)  # normal is due at 60, warned from 50
    assert names({"sla_state": "due_soon"}) == ["normal"]
    api.update_ticket(normal["id"], {"status": CLOSED})
    assert names({"sla_state": "met"}) == ["normal"]
    board = api.board({"sort": "sla_due_at"})
    assert [t["name"] for t in board["columns"][0]["items"]] == ["urgent", "low"]
    assert board["columns"][0]["items"][0]["sla"]["state"] == "breached"
    for query in ({"sort": "sla_due_at"}, {"sla_state": "met"}, {"sort": "-sla_due_at"}):
        with pytest.raises(SeatRequired):
            tickets.as_(AGENT).list_tickets(query)
        with pytest.raises(SeatRequired):
            tickets.as_(AGENT).board(query)
    assert {low["id"], urgent["id"], paused["id"], no_policy["id"]} <= {
        t["id"] for t in tickets.as_(AGENT).list_tickets({})["items"]
    }


def test_visible_tickets_can_ask_for_closed_ones(tickets: Tickets) -> None:
    api = tickets.as_(SEATED)
    done = api.create_ticket({"name": "done", "status": CLOSED})["id"]
    going = api.create_ticket({"name": "going"})["id"]
    assert api.visible_tickets([done, going]) == sorted([done, going])
    assert api.visible_tickets([done, going], closed=True) == [done]
    assert api.visible_tickets([done, going], closed=False) == [going]
    with pytest.raises(ValidationFailed):
        api.visible_tickets([done], closed="yes")


def test_a_merge_keeps_the_earliest_breach(tickets: Tickets, clock: ManualClock) -> None:
    policy(tickets.as_(ADMIN))
    api = tickets.as_(SEATED)
    older = api.create_ticket({"name": "older"})
    clock.advance(minutes=30)
    survivor = api.create_ticket({"name": "survivor"})
    clock.advance(minutes=31)
    api.sla_tick()  # only the older one is breached, at minute 60
    from sqlalchemy import update

    from services.tickets.models import tickets as table

    store = tickets.store
    with store.db.transaction() as s:
        s.execute(update(table).where(table.c.id == older["id"]).values(merged_into_id=survivor["id"]))
        store.slas.merged(s, survivor_id=survivor["id"], absorbed_id=older["id"], now=clock.now())
    kept = api.get_ticket(survivor["id"])["sla"]
    assert kept["state"] == "breached" and kept["breached_at"] == iso(60)
    message(api, survivor["id"], "reply", minutes(62), author_id=SEATED.user_id)
    assert api.get_ticket(survivor["id"])["sla"]["breached_at"] == iso(60)
    clock.advance(hours=9)
    api.sla_tick()
    assert api.get_ticket(survivor["id"])["sla"]["breached_at"] == iso(60)


def test_a_business_hours_policy_counts_working_time_only(tickets: Tickets, clock: ManualClock) -> None:
    days = ("mon", "tue", "wed", "thu", "fri")
    hours = {
        "timezone": "Europe/Warsaw",
        "weekly": [
            *({"day": d, "start": "09:00", "end": "12:00"} for d in days),
            *({"day": d, "start": "12:00", "end": "17:00"} for d in days),  # touching openings are fine
        ],
        "holidays": ["2026-05-11"],
    }
    made = policy(tickets.as_(ADMIN), first_reply_minutes=120, close_minutes=None, business_hours=hours)
    assert made["business_hours"]["holidays"] == ["2026-05-11"]
    clock.set(dt.datetime(2026, 5, 8, 14, 0, tzinfo=dt.UTC))  # Friday 16:00 in Warsaw
    ticket = tickets.as_(SEATED).create_ticket({"name": "Before the weekend"})
    # one hour on Friday, the weekend and Monday's holiday off, one hour on Tuesday morning
    assert goals(ticket)["first_reply"]["due_at"] == "2026-05-12T08:00:00+00:00"
