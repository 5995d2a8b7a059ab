"""Spam, not spam, delete, bulk delete, restore and bulk update as jobs (SPEC "Spam", "Delete and
restore"), across the tickets and conversations services."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from services.chassis.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.tickets import contract
from tests.service.lifecycle_harness import ACCOUNT, ADMIN, AGENT, DELETER, OWNED, World

pytestmark = pytest.mark.db


def two_thread_ticket(world: World) -> tuple[int, int, int]:
    """A ticket with two threads (a second customer's mail moved onto it); returns (ticket, t1, t2)."""
    one = world.email_ticket(subject="One")
    two = world.email_ticket(subject="Two")
    world.tickets(AGENT).merge_tickets({"primary_id": one["ticket_id"], "secondary_id": two["ticket_id"]})
    return one["ticket_id"], one["thread_id"], two["thread_id"]


def test_spam_moves_the_chosen_threads_to_the_spam_view(world: World) -> None:
    ticket, t1, t2 = two_thread_ticket(world)
    answer = world.tickets(DELETER).mark_spam(ticket, {"thread_ids": [t2]})
    assert answer == {
        "ticket_id": ticket,
        "thread_ids": [t2],
        "ticket_deleted": False,
        "job_id": answer["job_id"],
    }
    assert [t["id"] for t in world.conversations(AGENT).ticket_threads(ticket)["items"]] == [t1]
    spam = world.conversations(DELETER).list_spam()
    assert [t["id"] for t in spam["items"]] == [t2] and spam["total"] == 1
    assert world.tickets(AGENT).timeline(ticket)["items"][0]["type"] == "marked_spam"


def test_spam_of_every_thread_deletes_the_ticket_and_not_spam_restores_it(world: World) -> None:
    made = world.email_ticket()
    ticket, thread = made["ticket_id"], made["thread_id"]
    answer = world.tickets(DELETER).mark_spam(ticket, {"thread_ids": [thread]})
    assert answer["ticket_deleted"] is True
    with pytest.raises(NotFound):
        world.tickets(AGENT).get_ticket(ticket)
    assert [t["id"] for t in world.tickets(DELETER).recycle_bin()["items"]] == [ticket]
    back = world.tickets(DELETER).not_spam(thread)
    assert back["ticket_id"] == ticket and back["ticket_restored"] and not back["ticket_created"]
    assert world.tickets(AGENT).get_ticket(ticket)["in_progress"] is None
    assert [t["id"] for t in world.conversations(AGENT).ticket_threads(ticket)["items"]] == [thread]
    assert world.conversations(DELETER).list_spam()["total"] == 0
    assert [e["ticket_id"] for e in world.events("tickets", contract.TICKET_RESTORED)] == [ticket]


def test_not_spam_recreates_a_ticket_that_is_gone(world: World) -> None:
    made = world.email_ticket(subject="Lost")
    world.email_ticket(subject="newer")  # (SQLite would give the newest id to the next ticket again)
    world.tickets(DELETER).mark_spam(made["ticket_id"], {"thread_ids": [made["thread_id"]]})
    world.tickets_store.bin.begin_purge(ticket_ids=[made["ticket_id"]], cutoff=world.clock.now())
    world.conversations_store.lifecycle.purge_ticket_threads(ticket_ids=[made["ticket_id"]])
    world.tickets_store.bin.purge(ticket_ids=[made["ticket_id"]])
    back = world.tickets(DELETER).not_spam(made["thread_id"])
    assert back["ticket_created"] and back["ticket_id"] != made["ticket_id"]
    assert world.tickets(AGENT).get_ticket(back["ticket_id"])["name"] == "Lost"
    assert [t["id"] for t in world.conversations(AGENT).ticket_threads(back["ticket_id"])["items"]] == [
        made["thread_id"]
    ]


def test_spam_needs_the_delete_permission_and_the_ticket_own_threads(world: World) -> None:
    ticket, t1, _t2 = two_thread_ticket(world)
    other = world.email_ticket(subject="other")
    with pytest.raises(Forbidden):
        world.tickets(AGENT).mark_spam(ticket, {"thread_ids": [t1]})
    with pytest.raises(NotFound):  # invisible first: the owned-only user sees none of these
        world.tickets(OWNED).mark_spam(ticket, {"thread_ids": [t1]})
    with pytest.raises(ValidationFailed):
        world.tickets(DELETER).mark_spam(ticket, {"thread_ids": [other["thread_id"]]})
    with pytest.raises(Forbidden):
        world.conversations(AGENT).list_spam()
    assert world.conversations(DELETER).list_spam()["total"] == 0


def test_delete_and_restore_bring_back_the_ticket_with_its_conversations(world: World) -> None:
    made = world.email_ticket()
    ticket = made["ticket_id"]
    with pytest.raises(Forbidden):
        world.tickets(AGENT).delete_ticket(ticket)
    binned = world.tickets(DELETER).delete_ticket(ticket)
    assert binned["id"] == ticket and binned["deleted_at"] and binned["in_progress"] is None
    assert all(t.deleted_at is not None for t in world.threads())
    with pytest.raises(NotFound):
        world.conversations(AGENT).get_thread(made["thread_id"])
    with pytest.raises(NotFound):
        world.tickets(DELETER).delete_ticket(ticket)
    with pytest.raises(Forbidden):
        world.tickets(DELETER).restore_ticket(ticket)
    restored = world.tickets(ACCOUNT).restore_ticket(ticket)
    assert restored["id"] == ticket and restored["in_progress"] is None
    assert world.conversations(AGENT).get_thread(made["thread_id"])["ticket_id"] == ticket
    with pytest.raises(Conflict, match="not in the recycle bin"):
        world.tickets(ACCOUNT).restore_ticket(ticket)
    kinds = [i["type"] for i in world.tickets(AGENT).timeline(ticket)["items"]]
    assert kinds[:2] == ["restored", "deleted"]


def test_the_following_view_counts_what_it_lists_through_delete_spam_merge_and_back(
    world: World,
) -> None:
    """The following view's total (for an agent who sees every ticket, counted from the follow
    rows' ``listed`` flag) follows tickets into the bin, to spam, into a merge and back."""
    made = [world.email_ticket(subject=f"case {n}") for n in range(5)]
    ids = [m["ticket_id"] for m in made]
    agent = world.tickets(AGENT)
    for ticket_id in ids:
        agent.follow(ticket_id)
    world.tickets(ADMIN).follow(ids[0])

    def following() -> list[int]:
        page = world.tickets(AGENT).list_tickets({"view": "following", "limit": "100"})
        assert page["total"] == len(page["items"])
        return sorted(t["id"] for t in page["items"])

    assert following() == ids
    world.tickets(DELETER).delete_ticket(ids[0])
    world.tickets(DELETER).mark_spam(ids[1], {"thread_ids": [made[1]["thread_id"]]})
    agent.merge_tickets({"primary_id": ids[2], "secondary_id": ids[3]})
    assert following() == [ids[2], ids[4]]
    world.tickets(ACCOUNT).restore_ticket(ids[0])
    world.tickets(DELETER).not_spam(made[1]["thread_id"])
    assert following() == [ids[0], ids[1], ids[2], ids[4]]
    assert world.tickets(ADMIN).list_tickets({"view": "following"})["total"] == 1
    flags = {(row.ticket_id, row.user_id): bool(row.listed) for row in world.followers_rows()}
    assert flags == {(ids[0], 1): True, **{(t, 2): True for t in (ids[0], ids[1], ids[2], ids[4])}}


def test_the_following_view_is_newest_first_in_the_callers_scope_through_every_write(world: World) -> None:
    """The following view reads its order and scope from the follow rows' copies of their tickets'
    last update and owner: each kind of write that moves ``updated_at`` (an update, a customer's
    reply, a restore, not spam, a merge's survivor) brings a followed ticket to the top, and an
    assignment moves it into or out of an owned-only agent's view, its total too."""
    made = [world.email_ticket(subject=f"case {n}") for n in range(4)]
    ids = [m["ticket_id"] for m in made]
    admin, owned = world.tickets(ADMIN), world.tickets(OWNED)

    def following(api: Any) -> list[int]:
        page = api.list_tickets({"view": "following", "limit": "100"})
        assert page["total"] == len(page["items"])
        return [t["id"] for t in page["items"]]

    def later() -> None:
        world.clock.advance(seconds=1)

    for ticket_id in ids:
        later()
        admin.update_ticket(
            ticket_id, {"owner_id": OWNED.user_id} if ticket_id in ids[:2] else {"priority": "low"}
        )
    for ticket_id in ids:
        admin.follow(ticket_id)
    owned.follow(ids[0])
    owned.follow(ids[1])
    assert following(admin) == ids[::-1] and following(owned) == [ids[1], ids[0]]

    later()
    admin.update_ticket(ids[2], {"priority": "high"})
    assert following(admin) == [ids[2], ids[3], ids[1], ids[0]]
    later()
    world.customer_replies(message_id=made[0]["message_id"], sender=made[0]["sender"])
    assert following(admin) == [ids[0], ids[2], ids[3], ids[1]] and following(owned) == [ids[0], ids[1]]
    later()
    admin.update_ticket(ids[1], {"owner_id": ADMIN.user_id})
    assert following(owned) == [ids[0]]  # still a follower of ids[1], which they no longer see
    later()
    world.tickets(DELETER).delete_ticket(ids[3])
    assert ids[3] not in following(admin)
    later()
    world.tickets(ACCOUNT).restore_ticket(ids[3])
    assert following(admin)[0] == ids[3]
    later()
    world.tickets(DELETER).mark_spam(ids[2], {"thread_ids": [made[2]["thread_id"]]})
    later()
    world.tickets(DELETER).not_spam(made[2]["thread_id"])
    assert following(admin)[0] == ids[2]
    later()
    admin.merge_tickets({"primary_id": ids[0], "secondary_id": ids[1]})
    assert following(admin) == [ids[0], ids[2], ids[3]] and following(owned) == [ids[0]]

    tickets = {t.id: t for t in world.tickets_rows()}
    for row in world.followers_rows():
        t = tickets[row.ticket_id]
        assert (row.ticket_owner_id, row.ticket_updated_at) == (t.owner_id, t.updated_at), row


def test_the_following_view_in_its_other_orders_and_its_board_follow_every_write(world: World) -> None:
    """The following view sorted by name, priority or creation, and its board's columns and totals,
    read the follow rows' copies of their tickets' lower-cased name, priority rank, creation and
    stage: a rename, a new priority and a move to another stage each show at once, and every
    copy is its ticket's after them."""
    ids = [world.email_ticket(subject=f"case {n}")["ticket_id"] for n in range(3)]
    admin = world.tickets(ADMIN)
    for ticket_id in ids:
        admin.follow(ticket_id)

    def following(sort: str) -> list[int]:
        return [t["id"] for t in admin.list_tickets({"view": "following", "sort": sort})["items"]]

    def board(sort: str) -> dict[int, tuple[int, list[int]]]:
        columns = admin.board({"view": "following", "sort": sort})["columns"]
        return {c["stage"]["id"]: (c["total"], [t["id"] for t in c["items"]]) for c in columns}

    assert following("name") == ids and following("created_at") == ids
    world.clock.advance(seconds=1)
    admin.update_ticket(ids[0], {"name": "Zulu", "priority": "low"})
    admin.update_ticket(ids[1], {"name": "ALPHA", "priority": "urgent"})
    admin.update_ticket(ids[2], {"priority": "high", "status": 4})  # the default pipeline's Closed
    assert following("name") == [ids[1], ids[2], ids[0]]
    assert following("-name") == [ids[0], ids[2], ids[1]]
    assert following("-priority") == [ids[1], ids[2], ids[0]]
    assert following("-created_at") == ids[::-1]
    columns = board("name")
    assert columns[1] == (2, [ids[1], ids[0]]) and columns[4] == (1, [ids[2]])
    assert columns[2] == columns[3] == (0, [])

    tickets = {t.id: t for t in world.tickets_rows()}
    for row in world.followers_rows():
        t = tickets[row.ticket_id]
        copies = (row.ticket_created_at, row.ticket_priority_rank, row.ticket_name_key, row.ticket_stage_id)
        assert copies == (t.created_at, t.priority_rank, t.name.lower(), t.stage_id), row


def test_a_delete_finishes_after_conversations_comes_back(world: World) -> None:
    made = world.email_ticket()
    world.down.add("conversations")
    binned = world.tickets(DELETER).delete_ticket(made["ticket_id"])
    assert binned["in_progress"] == "delete"
    with pytest.raises(NotFound):  # nobody sees a half-deleted ticket
        world.tickets(AGENT).get_ticket(made["ticket_id"])
    with pytest.raises(Conflict, match="in progress"):
        world.tickets(ACCOUNT).restore_ticket(made["ticket_id"])
    world.down.clear()
    world.resume()
    assert all(t.deleted_at is not None for t in world.threads())
    assert world.tickets(DELETER).recycle_bin()["items"][0]["in_progress"] is None


def test_bulk_delete_needs_the_exact_count_and_reports_each_ticket(world: World) -> None:
    ids = [world.email_ticket(subject=f"t{n}")["ticket_id"] for n in range(3)]
    api = world.tickets(DELETER)
    with pytest.raises(ValidationFailed) as wrong:
        api.bulk_delete({"ids": ids, "confirm_count": 2})
    assert "confirm_count" in wrong.value.errors and world.jobs() == []
    with pytest.raises(Forbidden):
        world.tickets(AGENT).bulk_delete({"ids": ids, "confirm_count": 3})
    api.delete_ticket(ids[0])
    answer = api.bulk_delete({"ids": [*ids, 9999], "confirm_count": 4}, idempotency_key="bd-1")
    assert (answer["state"], answer["done"], answer["skipped"], answer["total"]) == ("done", 2, 2, 4)
    assert [r["status"] for r in answer["results"]] == [409, 200, 200, 404]
    again = api.bulk_delete({"ids": [*ids, 9999], "confirm_count": 4}, idempotency_key="bd-1")
    assert again["id"] == answer["id"] and again["_idempotent_replayed"] is True
    assert all(t.deleted_at is not None for t in world.threads())
    assert world.tickets(AGENT).list_tickets()["total"] == 0


def test_a_large_bulk_delete_runs_as_a_job_to_the_end(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.tickets.lifecycle.INLINE_BUDGET", 0.0)  # answer before the first batch
    with world.tickets_engine.begin() as conn:  # 1,200 tickets straight into the table
        now = world.clock.now()
        conn.execute(
            sa.text(
                "INSERT INTO tickets (name, description, pipeline_id, stage_id, priority, priority_rank,"
                " source, created_by, created_at, updated_at, version, unread_seq, merge_count, search_text)"
                " VALUES ('bulk', '', 1, 1, 'medium', 1, 'api', 1, :now, :now, 1, 1, 0, :text)"
            ),
            [{"now": now, "text": "bulk\n"}] * 1200,
        )
    ids = [t.id for t in world.tickets_rows()]
    answer = world.tickets(DELETER).bulk_delete({"ids": ids, "confirm_count": len(ids)})
    assert answer["state"] == "running" and "results" not in answer
    for _ in range(20):
        if world.tickets(DELETER).get_job(answer["id"])["state"] != "running":
            break
        world.resume()
    job = world.tickets(DELETER).get_job(answer["id"])
    assert (job["state"], job["done"], job["processed"]) == ("done", 1200, 1200)
    assert len(job["items"]) == 100 and job["items_next_cursor"]
    rest = world.tickets(DELETER).job_items(answer["id"], {"cursor": job["items_next_cursor"]})
    assert rest["items"][0]["seq"] == 101
    items = world.tickets(DELETER).job_items(answer["id"], {"limit": "100"})
    assert items["total"] == 1200 and {i["outcome"] for i in items["items"]} == {"done"}
    with pytest.raises(NotFound):
        world.tickets(AGENT).get_job(answer["id"])  # a job is its actor's
    assert world.tickets(ADMIN).get_job(answer["id"])["id"] == answer["id"]


def test_bulk_update_is_a_job_and_answers_small_ones_in_full(world: World) -> None:
    ids = [world.email_ticket(subject=f"t{n}")["ticket_id"] for n in range(2)]
    answer = world.tickets(AGENT).bulk_update({"ids": [*ids, 9999], "changes": {"priority": "urgent"}})
    assert answer["state"] == "done" and [r["status"] for r in answer["results"]] == [200, 200, 404]
    assert answer["results"][0]["ticket"]["priority"] == "urgent"
    assert (answer["done"], answer["skipped"]) == (2, 1)
