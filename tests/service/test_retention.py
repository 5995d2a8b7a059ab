"""The retention service purging the spam view and the recycle bin (SPEC "Retention"), with the
world's ManualClock: periods pass without sleeping."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from services.chassis.errors import Conflict, Forbidden, ServiceUnavailable
from tests.service.lifecycle_harness import ACCOUNT, AGENT, DELETER, World

pytestmark = pytest.mark.db


def spam_and_bin(world: World) -> tuple[int, int, int]:
    """A spam thread (its ticket keeps another thread) and a ticket in the bin; returns (spam thread,
    binned ticket, its thread)."""
    one, two = world.email_ticket(subject="keep"), world.email_ticket(subject="spam")
    world.tickets(AGENT).merge_tickets({"primary_id": one["ticket_id"], "secondary_id": two["ticket_id"]})
    world.tickets(DELETER).mark_spam(one["ticket_id"], {"thread_ids": [two["thread_id"]]})
    binned = world.email_ticket(subject="binned")
    world.tickets(DELETER).delete_ticket(binned["ticket_id"])
    return two["thread_id"], binned["ticket_id"], binned["thread_id"]


def audit(world: World) -> list[Any]:
    assert world.retention_engine is not None
    with world.retention_engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT * FROM purge_audit ORDER BY id")).all())


def test_nothing_goes_before_its_period_and_everything_after(retention_world: World) -> None:
    world = retention_world
    spam, ticket, thread = spam_and_bin(world)
    run = world.retention(ACCOUNT).run({"dry_run": False})
    assert run["state"] == "done" and run["purged"] == {} and run["items"] == []
    world.clock.advance(days=89, hours=23)
    assert world.retention(ACCOUNT).run({"dry_run": False})["purged"] == {}
    world.clock.advance(hours=2)
    run = world.retention(ACCOUNT).run({"dry_run": False})
    assert run["purged"] == {"spam_thread": 1, "bin_ticket": 1}
    assert {(i["kind"], i["id"], i["policy"]) for i in run["items"]} == {
        ("spam_thread", spam, "spam"),
        ("bin_ticket", ticket, "bin"),
    }
    assert not {spam, thread} & {t.id for t in world.threads()}
    assert ticket not in {t.id for t in world.tickets_rows()}
    again = world.retention(ACCOUNT).run({"dry_run": False})
    assert again["purged"] == {}
    assert len(audit(world)) == 2 and {a.state for a in audit(world)} == {"purged"}
    page = world.retention(ACCOUNT).audit()
    assert page["total"] == 2 and {i["kind"] for i in page["items"]} == {"spam_thread", "bin_ticket"}
    assert "notifications" in world.housekept and "permissions" in world.housekept


def test_a_dry_run_lists_what_would_go_and_when_and_deletes_nothing(retention_world: World) -> None:
    world = retention_world
    spam, ticket, _thread = spam_and_bin(world)
    now = world.clock.now()
    assert world.retention(ACCOUNT).run({"dry_run": True})["items"] == []
    ahead = world.retention(ACCOUNT).run({"dry_run": True, "horizon_days": 91})
    assert {(i["kind"], i["id"]) for i in ahead["items"]} == {("spam_thread", spam), ("bin_ticket", ticket)}
    assert {i["due_at"] for i in ahead["items"]} == {(now + dt.timedelta(days=90)).isoformat()}
    assert ahead["id"] is None and ahead["dry_run"] is True
    assert audit(world) == [] and ticket in {t.id for t in world.tickets_rows()}


def test_given_back_or_restored_in_time_it_stays(retention_world: World) -> None:
    world = retention_world
    spam, ticket, thread = spam_and_bin(world)
    world.clock.advance(days=91)
    world.tickets(DELETER).not_spam(spam)
    world.tickets(ACCOUNT).restore_ticket(ticket)
    assert world.retention(ACCOUNT).run({"dry_run": False})["purged"] == {}
    assert {spam, thread} <= {t.id for t in world.threads()}


def test_a_run_killed_half_way_is_finished_by_the_next_and_nothing_twice(retention_world: World) -> None:
    world = retention_world
    _spam, ticket, thread = spam_and_bin(world)
    world.clock.advance(days=91)
    real = world.tickets_store.bin.purge

    def die(**kwargs: Any) -> Any:  # the tickets service dies after conversations purged the threads
        raise ServiceUnavailable("tickets went away")

    world.tickets_store.bin.purge = die  # type: ignore[method-assign]
    run = world.retention(ACCOUNT).run({"dry_run": False})
    assert run["state"] == "running" and "tickets went away" in run["error"]
    assert thread not in {t.id for t in world.threads()}
    assert ticket in {t.id for t in world.tickets_rows()}  # marked, no longer restorable
    with pytest.raises(Conflict, match="purged"):
        world.tickets(ACCOUNT).restore_ticket(ticket)
    world.tickets_store.bin.purge = real  # type: ignore[method-assign]
    world.clock.advance(seconds=31)  # the run's lease runs out: the schedule takes it over
    world.instance("retention", None).tick()
    assert world.retention(ACCOUNT).get_run(run["id"])["state"] == "done"
    assert ticket not in {t.id for t in world.tickets_rows()}
    assert sorted((a.kind, a.state) for a in audit(world)) == [
        ("bin_ticket", "purged"),
        ("spam_thread", "purged"),
    ]


def test_one_run_at_a_time_and_account_access_only(retention_world: World) -> None:
    world = retention_world
    with pytest.raises(Forbidden):
        world.retention(AGENT).run({"dry_run": True})
    world.retention_store.start_run(trigger="schedule", actor_id=None)
    with pytest.raises(Conflict):
        world.retention(ACCOUNT).run({"dry_run": False})


def test_periods_are_configuration(make_db: Any, world: World) -> None:
    world.enable_retention(make_db("retention"), SPAM_DAYS=1, BIN_DAYS="2.5")
    spam, ticket, _thread = spam_and_bin(world)
    world.clock.advance(days=1, minutes=1)
    assert world.retention(ACCOUNT).run({"dry_run": False})["purged"] == {"spam_thread": 1}
    world.clock.advance(days=1, hours=12)
    assert world.retention(ACCOUNT).run({"dry_run": False})["purged"] == {"bin_ticket": 1}
    assert world.retention(ACCOUNT).policies()[:2] == [
        {"policy": "spam", "days": 1.0},
        {"policy": "bin", "days": 2.5},
    ]
    assert spam not in {t.id for t in world.threads()} and ticket not in {t.id for t in world.tickets_rows()}
