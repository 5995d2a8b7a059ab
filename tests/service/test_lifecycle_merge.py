"""Merging two tickets across the tickets and conversations services (SPEC "Merge")."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.chassis.errors import Conflict, Moved, NotFound, ValidationFailed
from services.chassis.idempotency import IdempotencyKey
from services.tickets import contract
from services.tickets.domain import scope_for
from tests.service.lifecycle_harness import ADMIN, AGENT, OWNED, World, mail

pytestmark = pytest.mark.db


def test_merge_moves_everything_to_the_survivor(world: World) -> None:
    one = world.email_ticket(subject="Printer", messages=2)
    two = world.email_ticket(subject="Toner")
    api = world.tickets(AGENT)
    p, x = one["ticket_id"], two["ticket_id"]
    api.add_association(p, "contacts", 1)
    api.add_association(x, "contacts", 2)
    api.follow(x)
    survivor = api.merge_tickets({"primary_id": p, "secondary_id": x})
    assert survivor["id"] == p and survivor["merged_ticket_ids"] == [x]
    assert survivor["in_progress"] is None and survivor["name"] == "Printer"
    assert survivor["associations"]["contacts"] == [1, 2] and survivor["following"]
    threads = world.conversations(AGENT).ticket_threads(p)
    assert {t["id"] for t in threads["items"]} == {one["thread_id"], two["thread_id"]}
    with pytest.raises(Moved) as moved:
        api.get_ticket(x)
    assert moved.value.extra["merged_into"] == p and moved.value.extra["location"] == f"/api/v1/tickets/{p}"
    with pytest.raises(Moved):
        api.update_ticket(x, {"priority": "high"})
    with pytest.raises(Moved):
        world.conversations(AGENT).ticket_threads(x)
    [event] = world.events("tickets", contract.TICKET_MERGED)
    assert (event["ticket_id"], event["merged_ticket_id"]) == (p, x)
    kinds = [i["type"] for i in api.timeline(p)["items"]]
    assert kinds[0] == "merged" and kinds.count("created") == 2


def test_read_state_stays_read_only_where_both_were_read(world: World) -> None:
    one, two = world.email_ticket(), world.email_ticket(subject="Two")
    p, x = one["ticket_id"], two["ticket_id"]
    agent, admin = world.tickets(AGENT), world.tickets(ADMIN)
    agent.get_ticket(p)
    agent.get_ticket(x)  # the agent read both
    admin.get_ticket(p)  # the admin only the primary
    agent.merge_tickets({"primary_id": p, "secondary_id": x})
    assert agent.get_ticket(p, mark_read=False)["unread"] is False
    assert admin.get_ticket(p, mark_read=False)["unread"] is True


def test_the_survivor_takes_the_older_create_date(world: World) -> None:
    old = world.email_ticket(subject="Old")
    world.clock.advance(hours=5)
    new = world.email_ticket(subject="New")
    api = world.tickets(AGENT)
    created = api.get_ticket(old["ticket_id"])["created_at"]
    survivor = api.merge_tickets({"primary_id": new["ticket_id"], "secondary_id": old["ticket_id"]})
    assert survivor["created_at"] == created and survivor["name"] == "New"


def test_merge_refusals_change_nothing(world: World) -> None:
    a, b, c = (world.email_ticket(subject=s)["ticket_id"] for s in "abc")
    api = world.tickets(AGENT)
    with pytest.raises(ValidationFailed) as same:
        api.merge_tickets({"primary_id": a, "secondary_id": a})
    assert "secondary_id" in same.value.errors
    with pytest.raises(NotFound):
        api.merge_tickets({"primary_id": a, "secondary_id": 9999})
    owned = world.tickets(OWNED)  # sees only its own tickets (none of these)
    with pytest.raises(NotFound):
        owned.merge_tickets({"primary_id": a, "secondary_id": b})
    api.merge_tickets({"primary_id": a, "secondary_id": b})
    with pytest.raises(Conflict, match="already merged"):
        api.merge_tickets({"primary_id": c, "secondary_id": b})
    with pytest.raises(Conflict, match="already merged"):
        api.merge_tickets({"primary_id": b, "secondary_id": c})
    world.tickets(ADMIN).delete_ticket(c)
    with pytest.raises(Conflict, match="recycle bin"):
        api.merge_tickets({"primary_id": a, "secondary_id": c})
    assert len(world.events("tickets", contract.TICKET_MERGED)) == 1


def test_a_ticket_that_took_part_in_250_merges_cannot_merge_again(world: World) -> None:
    a, b = world.email_ticket()["ticket_id"], world.email_ticket(subject="b")["ticket_id"]
    with world.tickets_engine.begin() as conn:
        conn.execute(sa.text("UPDATE tickets SET merge_count = 250 WHERE id = :a"), {"a": a})
    with pytest.raises(Conflict, match="250"):
        world.tickets(AGENT).merge_tickets({"primary_id": b, "secondary_id": a})


def test_chains_stay_one_step_long(world: World) -> None:
    a, b, c = (world.email_ticket(subject=s)["ticket_id"] for s in "abc")
    api = world.tickets(AGENT)
    api.merge_tickets({"primary_id": a, "secondary_id": b})
    survivor = api.merge_tickets({"primary_id": c, "secondary_id": a})
    assert survivor["merged_ticket_ids"] == sorted([a, b])
    for absorbed in (a, b):
        with pytest.raises(Moved) as moved:
            api.get_ticket(absorbed)
        assert moved.value.extra["merged_into"] == c
    assert {t["ticket_id"] for t in world.conversations(AGENT).ticket_threads(c)["items"]} == {c}
    assert len(world.conversations(AGENT).ticket_threads(c)["items"]) == 3
    [last] = world.events("tickets", contract.TICKET_MERGED)[-1:]
    assert last["merged_ticket_ids"] == sorted([a, b])


def test_mail_to_the_absorbed_ticket_lands_on_the_survivor(world: World) -> None:
    one = world.email_ticket(subject="Printer")
    two = world.email_ticket(subject="Toner", sender="Tom <tom@example.com>")
    p, x = one["ticket_id"], two["ticket_id"]
    world.tickets(AGENT).merge_tickets({"primary_id": p, "secondary_id": x})
    # a reply by its headers, and one whose client dropped them but kept [#id] in the subject
    world.deliver(mail(subject="Re: Toner", in_reply_to=two["message_id"], sender="Tom <tom@example.com>"))
    world.deliver(mail(subject=f"Re: [#{x}] Toner", sender="Tom <tom@example.com>"))
    threads = world.conversations(AGENT).ticket_threads(p)["items"]
    assert sorted(t["message_count"] for t in threads) == [1, 3]
    assert len(world.tickets_rows()) == 2  # no new ticket


def test_a_merge_finishes_after_conversations_comes_back(world: World) -> None:
    p, x = world.email_ticket()["ticket_id"], world.email_ticket(subject="b")["ticket_id"]
    world.down.add("conversations")
    survivor = world.tickets(AGENT).merge_tickets({"primary_id": p, "secondary_id": x})
    assert survivor["in_progress"] == "merge" and survivor["merged_ticket_ids"] == [x]
    job = world.tickets(AGENT).get_job(survivor["job_id"])
    assert job["state"] == "running" and job["attempts"] == 1 and "ServiceUnavailable" in job["error"]
    world.resume()  # still down: waits
    assert world.tickets(AGENT).get_job(job["id"])["state"] == "running"
    world.down.clear()
    world.resume()
    done = world.tickets(AGENT).get_job(job["id"])
    assert done["state"] == "done" and done["error"] is None and done["result"] == {"ticket_id": p}
    assert world.tickets(AGENT).get_ticket(p)["in_progress"] is None
    assert {t.ticket_id for t in world.threads()} == {p}


def test_the_same_idempotency_key_answers_the_first_merge(world: World) -> None:
    p, x = world.email_ticket()["ticket_id"], world.email_ticket(subject="b")["ticket_id"]
    api = world.tickets(AGENT)
    body = {"primary_id": p, "secondary_id": x}
    first = api.merge_tickets(body, idempotency_key="m-1")
    again = api.merge_tickets(body, idempotency_key="m-1")
    assert again["id"] == first["id"] and again["_idempotent_replayed"] is True
    with pytest.raises(Conflict):
        api.merge_tickets({"primary_id": x, "secondary_id": p}, idempotency_key="m-1")
    assert len(world.jobs()) == 1


def test_a_retry_that_raced_its_first_request_answers_the_first_merge(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry looked for the key's job before the first request had committed it (found by
    the chaos test: a gateway killed mid-merge, the client's retry on another instance)."""
    p, x = world.email_ticket()["ticket_id"], world.email_ticket(subject="b")["ticket_id"]
    api = world.tickets(AGENT)
    body = {"primary_id": p, "secondary_id": x}
    first = api.merge_tickets(body, idempotency_key="m-2")
    jobs = world.tickets_store.jobs
    looked: list[object] = []

    def too_early(key: object) -> object:
        looked.append(key)
        return None if len(looked) == 1 else type(jobs).replay(jobs, key)  # type: ignore[arg-type]

    monkeypatch.setattr(jobs, "replay", too_early)
    again = api.merge_tickets(body, idempotency_key="m-2")
    assert len(looked) == 2 and again["id"] == first["id"] and again["_idempotent_replayed"] is True
    with pytest.raises(Conflict):  # without a key there is nothing to replay: merged already
        api.merge_tickets(body)
    assert len(world.jobs()) == 1


def test_two_jobs_cannot_share_an_idempotency_key(world: World) -> None:
    p = world.email_ticket()["ticket_id"]
    key = IdempotencyKey.of(AGENT.user_id, "j-1", "merge_tickets", {"n": 1})
    jobs = world.tickets_store.jobs
    scope = scope_for(AGENT)

    def start() -> int:
        with world.tickets_store.db.transaction() as s:
            return jobs.insert(
                s,
                kind="merge",
                actor_id=AGENT.user_id,
                scope=scope,
                data={"primary_id": p},
                step="threads",
                key=key,
            )

    start()
    with pytest.raises(Conflict, match="Idempotency-Key"):
        start()
    assert len(world.jobs()) == 1


def test_an_absorbed_id_answers_for_its_survivor_whoever_owned_it_before(world: World) -> None:
    """Access to a merged-away id is judged on its survivor: who may see the survivor is sent
    there (301), who may not learns nothing (404), even the absorbed ticket's former owner."""
    survivor, absorbed = world.email_ticket(subject="Kept")["ticket_id"], world.email_ticket()["ticket_id"]
    admin = world.tickets(ADMIN)
    admin.update_ticket(absorbed, {"owner_id": OWNED.user_id})
    admin.merge_tickets({"primary_id": survivor, "secondary_id": absorbed})
    owned = world.tickets(OWNED)  # owned the absorbed ticket, may not see the survivor
    for call in (
        lambda: owned.get_ticket(absorbed),
        lambda: owned.update_ticket(absorbed, {"priority": "high"}),
    ):
        with pytest.raises(NotFound):
            call()
    assert world.tickets(OWNED).visible_tickets([absorbed, survivor]) == []
    admin.update_ticket(survivor, {"owner_id": OWNED.user_id})  # now the survivor is theirs
    with pytest.raises(Moved) as moved:
        owned.get_ticket(absorbed)
    assert moved.value.extra["merged_into"] == survivor
    assert world.tickets(OWNED).visible_tickets([absorbed, survivor]) == sorted([absorbed, survivor])
