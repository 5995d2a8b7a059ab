"""A hypothesis state machine mixing merges, splits, deletes, bulk deletes, restores, spam, not
spam, updates and customers' replies on the tickets and conversations services (in one process), while the
conversations service goes down or loses its answers. It checks, after every step, what must
always hold, and once every job has finished, what must hold when the services agree:

* each thread belongs to exactly one live ticket, or to the bin (deleted with its ticket) or
  the spam view; no conversation points at a missing or absorbed ticket;
* merge chains are one step long (so acyclic) and lead to a ticket that was not absorbed;
* absorbed tickets are read-only (their row never changes again; writes answer 301);
* the list's total equals what it lists and every listed ticket opens; every ticket that opens
  (not in the bin, not absorbed) is listed; no ticket stays in progress;
* the following view lists, and counts, exactly the followed tickets that open, newest first;
  every follow row carries its ticket's facts (listed or not, owner, last update: the view reads
  them there instead of the ticket, so every step above must keep them).

It runs on SQLite only (databases are copied from a migrated template for speed); the saga
logic it exercises does not depend on the database.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from services.chassis.errors import HelpdeskError, Moved
from tests import conftest as root
from tests.service.lifecycle_harness import ADMIN, World

pytestmark = pytest.mark.skipif(root.test_db_kind() != "sqlite", reason="copies SQLite templates")

PRIORITIES = ("low", "medium", "high", "urgent")


class Lifecycle(RuleBasedStateMachine):
    tickets = Bundle("tickets")
    threads = Bundle("threads")

    def __init__(self, templates: dict[str, Path], folder: Path) -> None:
        super().__init__()
        shutil.rmtree(folder, ignore_errors=True)  # the last example's world
        folder.mkdir(parents=True)
        self.folder = folder

        def make_db(service: str) -> str:
            target = folder / f"{service}.db"
            shutil.copy(templates[service], target)
            return f"sqlite:///{target}"

        self.world = World(make_db, folder)
        self.api = self.world.tickets(ADMIN)
        self.absorbed: dict[int, tuple[Any, ...]] = {}
        self.mails: list[tuple[str, str]] = []  # each customer's first message: what they reply to
        self.made = 0

    def teardown(self) -> None:
        self.world.close()

    # -- what happens ------------------------------------------------------------------------------------
    def _try(self, action: Callable[[], Any]) -> Any:
        self.world.clock.advance(seconds=1)  # each step at its own moment: a write's updated_at moves
        try:
            return action()
        except HelpdeskError:
            return None

    @rule(target=tickets, messages=st.integers(1, 3))
    def customer_writes(self, messages: int) -> int:
        self.made += 1
        made = self.world.email_ticket(subject=f"case {self.made}", messages=messages)
        self.mails.append((made["message_id"], made["sender"]))
        return int(made["ticket_id"])

    @rule(data=st.data())
    def customer_replies(self, data: st.DataObject) -> None:
        if self.mails:
            message_id, sender = data.draw(st.sampled_from(self.mails))
            self.world.clock.advance(seconds=1)
            self.world.customer_replies(message_id=message_id, sender=sender)

    @rule(target=threads, ticket=tickets)
    def threads_of(self, ticket: int) -> int:
        rows = [t.id for t in self.world.threads() if t.ticket_id == ticket]
        return rows[0] if rows else 0

    @rule(primary=tickets, secondary=tickets)
    def merge(self, primary: int, secondary: int) -> None:
        self._try(lambda: self.api.merge_tickets({"primary_id": primary, "secondary_id": secondary}))

    @rule(ticket=tickets, data=st.data())
    def split(self, ticket: int, data: st.DataObject) -> None:
        found = self._try(lambda: self.world.conversations(ADMIN).ticket_threads(ticket))
        if not found or not found["items"]:
            return
        messages = [m["id"] for m in found["items"][0]["messages"]]
        if len(messages) < 2:
            return
        chosen = data.draw(
            st.lists(st.sampled_from(messages), min_size=1, max_size=len(messages) - 1, unique=True)
        )
        self._try(
            lambda: self.api.split_ticket(ticket, {"message_ids": chosen, "ticket": {"name": "split off"}})
        )

    @rule(ticket=tickets)
    def delete(self, ticket: int) -> None:
        self._try(lambda: self.api.delete_ticket(ticket))

    @rule(chosen=st.lists(tickets, min_size=1, max_size=4, unique=True))
    def bulk_delete(self, chosen: list[int]) -> None:
        self._try(lambda: self.api.bulk_delete({"ids": chosen, "confirm_count": len(chosen)}))

    @rule(ticket=tickets)
    def restore(self, ticket: int) -> None:
        self._try(lambda: self.api.restore_ticket(ticket))

    @rule(ticket=tickets, everything=st.booleans())
    def spam(self, ticket: int, everything: bool) -> None:
        live = [
            t.id
            for t in self.world.threads()
            if t.ticket_id == ticket and t.spam_at is None and t.deleted_at is None
        ]
        if live:
            chosen = live if everything else live[:1]
            self._try(lambda: self.api.mark_spam(ticket, {"thread_ids": chosen}))

    @rule(thread=threads)
    def not_spam(self, thread: int) -> None:
        self._try(lambda: self.api.not_spam(thread))

    @rule(ticket=tickets)
    def follow(self, ticket: int) -> None:
        self._try(lambda: self.api.follow(ticket))

    @rule(
        ticket=tickets,
        priority=st.sampled_from(PRIORITIES),
        name=st.none() | st.sampled_from(["Zed", "a"]),
        stage=st.none() | st.sampled_from([1, 3, 4]),  # the default pipeline's New, Waiting on us, Closed
    )
    def update(self, ticket: int, priority: str, name: str | None, stage: int | None) -> None:
        changes: dict[str, Any] = {"priority": priority}
        if name is not None:
            changes["name"] = name
        if stage is not None:
            changes["status"] = stage
        self._try(lambda: self.api.update_ticket(ticket, changes))

    @rule(trouble=st.sampled_from(("down", "lost", "fine")))
    def conversations_trouble(self, trouble: str) -> None:
        self.world.down.discard("conversations")
        self.world.lost.discard("conversations")
        if trouble == "down":
            self.world.down.add("conversations")
        elif trouble == "lost":
            self.world.lost.add("conversations")

    @rule()
    def settle(self) -> None:
        """Everything comes back; the resume sweep finishes every job; then the services agree."""
        self.world.down.clear()
        self.world.lost.clear()
        for _ in range(10):
            if not any(j.state == "running" for j in self.world.jobs()):
                break
            self.world.resume()
        assert not any(j.state == "running" for j in self.world.jobs())
        self._agreed()

    # -- what must hold ----------------------------------------------------------------------------------
    @invariant()
    def chains_are_one_step_long(self) -> None:
        rows = {t.id: t for t in self.world.tickets_rows()}
        for t in rows.values():
            if t.merged_into_id is not None:
                survivor = rows[t.merged_into_id]
                assert survivor.merged_into_id is None and survivor.id != t.id

    @invariant()
    def absorbed_tickets_are_read_only(self) -> None:
        for t in self.world.tickets_rows():
            if t.merged_into_id is None:
                continue
            frozen = (t.name, t.priority, t.stage_id, t.version, t.owner_id, t.deleted_at)
            assert self.absorbed.setdefault(t.id, frozen) == frozen
        if self.absorbed:
            absorbed = next(iter(self.absorbed))
            with pytest.raises(Moved):
                self.api.update_ticket(absorbed, {"name": "changed"})

    @invariant()
    def the_list_shows_exactly_what_opens(self) -> None:
        page = self.api.list_tickets({"limit": "100"})
        listed = {t["id"] for t in page["items"]}
        assert page["total"] == len(listed)
        openable = {
            t.id for t in self.world.tickets_rows() if t.deleted_at is None and t.merged_into_id is None
        }
        assert listed == openable
        for ticket_id in sorted(listed)[:3]:
            assert self.api.get_ticket(ticket_id, mark_read=False)["id"] == ticket_id

    @invariant()
    def the_following_view_counts_exactly_the_followed_tickets_that_open(self) -> None:
        page = self.api.list_tickets({"view": "following", "limit": "100"})
        shown = {t["id"] for t in page["items"]}
        assert page["total"] == len(shown)
        openable = {
            t.id for t in self.world.tickets_rows() if t.deleted_at is None and t.merged_into_id is None
        }
        followed = {row.ticket_id for row in self.world.followers_rows() if row.user_id == ADMIN.user_id}
        assert shown == followed & openable
        rows = {t.id: t for t in self.world.tickets_rows()}
        newest = sorted(shown, key=lambda t: (rows[t].updated_at, t), reverse=True)
        assert [t["id"] for t in page["items"]] == newest

    @invariant()
    def every_follow_row_carries_its_tickets_facts(self) -> None:
        rows = {t.id: t for t in self.world.tickets_rows()}
        for follow in self.world.followers_rows():
            t = rows[follow.ticket_id]
            listed = t.deleted_at is None and t.merged_into_id is None
            facts = (
                *(listed, t.owner_id, t.updated_at),
                *(t.created_at, t.priority_rank, t.name.lower(), t.stage_id),
            )
            copies = (
                bool(follow.listed),
                follow.ticket_owner_id,
                follow.ticket_updated_at,
                follow.ticket_created_at,
                follow.ticket_priority_rank,
                follow.ticket_name_key,
                follow.ticket_stage_id,
            )
            assert copies == facts, follow

    def _agreed(self) -> None:
        tickets = {t.id: t for t in self.world.tickets_rows()}
        assert all(t.in_progress is None and t.job_id is None for t in tickets.values())
        for thread in self.world.threads():
            if thread.spam_at is not None:  # the spam view: its ticket, if any, still exists
                assert thread.ticket_id is None or thread.ticket_id in tickets
                continue
            assert not thread.ticket_pending
            ticket = tickets.get(thread.ticket_id)
            assert ticket is not None, f"thread {thread.id} points at missing ticket {thread.ticket_id}"
            assert ticket.merged_into_id is None, f"thread {thread.id} is on absorbed ticket {ticket.id}"
            assert (thread.deleted_at is None) == (ticket.deleted_at is None), (
                f"thread {thread.id} vs its ticket"
            )


def test_lifecycle_state_machine(make_db: Callable[[str], str], tmp_path: Path) -> None:
    templates = {}
    for service in ("tickets", "conversations"):
        url = make_db(service)
        templates[service] = Path(url.removeprefix("sqlite:///"))
    folder = tmp_path / "world"

    class OnTheseTemplates(Lifecycle):
        def __init__(self) -> None:
            super().__init__(templates, folder)

    run_state_machine_as_test(
        OnTheseTemplates,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
